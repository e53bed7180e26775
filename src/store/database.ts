/**
 * The table map of paystream's database, empty here on purpose. Each bounded context declares its
 * own tables into it from its own folder (`declare module '../store/database.ts'`, the way Fastify
 * plugins decorate a request), next to its own migrations; so adding a context's tables edits no
 * other context's files, while every query is still checked against every table.
 *
 * Money and timestamps are 64-bit integers in both dialects: amounts in minor units, times in
 * epoch milliseconds. They come back as number, bigint or (PostgreSQL int8) string: see `Int64`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging, one context at a time
export interface Database {}

/** What a 64-bit integer column reads back as, depending on the driver. */
export type Int64 = number | bigint | string;
