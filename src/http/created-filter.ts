/**
 * The `created[gte|gt|lte|lt]` filters of every list endpoint (Stripe's shape), in Unix seconds, and
 * their conversion to an inclusive range of epoch milliseconds.
 */

/**
 * Up to the end of year 9999: bounded, so that converting to milliseconds stays an exact integer
 * within PostgreSQL's bigint (an unbounded 1e20 was a 500).
 */
export const unixSecondsMax = 253_402_300_799;
const unixSeconds = { type: 'integer', minimum: 0, maximum: unixSecondsMax } as const;

/** The four filters' query-string schemas, to spread into a list endpoint's `properties`. */
export const createdFilterProperties = {
  'created[gte]': { ...unixSeconds, description: 'Unix seconds, inclusive.' },
  'created[lte]': { ...unixSeconds, description: 'Unix seconds, inclusive.' },
  'created[gt]': { ...unixSeconds, description: 'Unix seconds, exclusive.' },
  'created[lt]': { ...unixSeconds, description: 'Unix seconds, exclusive.' },
} as const;

export interface CreatedFilterQuery {
  'created[gte]'?: number;
  'created[lte]'?: number;
  'created[gt]'?: number;
  'created[lt]'?: number;
}

/** The filters as an inclusive millisecond range; each end undefined when unbounded. */
export function createdRangeMs(q: CreatedFilterQuery): { gte?: number; lte?: number } {
  const lower = [
    q['created[gte]'] === undefined ? undefined : q['created[gte]'] * 1000,
    q['created[gt]'] === undefined ? undefined : (q['created[gt]'] + 1) * 1000,
  ].filter((v) => v !== undefined);
  const upper = [
    q['created[lte]'] === undefined ? undefined : q['created[lte]'] * 1000 + 999,
    q['created[lt]'] === undefined ? undefined : q['created[lt]'] * 1000 - 1,
  ].filter((v) => v !== undefined);
  return {
    gte: lower.length ? Math.max(...lower) : undefined,
    lte: upper.length ? Math.min(...upper) : undefined,
  };
}
