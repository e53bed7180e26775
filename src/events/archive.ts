import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../store/database.ts';
import type { Dialect, Store } from '../store/store.ts';
import type { CloudEvent } from './envelope.ts';

/**
 * Published events kept for the events API (the `events` table). The relay archives what it
 * published in the transaction that deletes it from the outbox; a retention purge removes what is
 * older than the retention period. Re-archiving an event (a relay that crashed after publishing and
 * published again) changes nothing: the event id is the key.
 */

type Db = Kysely<Database> | Transaction<Database>;

/** Most events one purge statement deletes. */
export const eventPurgeBatchMax = 1000;

function merchantOf(event: CloudEvent): string | null {
  const data = event.data as { merchant_id?: unknown } | null;
  return data !== null && typeof data === 'object' && typeof data.merchant_id === 'string'
    ? data.merchant_id
    : null;
}

/** A published outbox row, with its event parsed. */
export interface ArchivedRow {
  position: string | number | bigint;
  event: CloudEvent;
}

/**
 * PostgreSQL only: the common table expressions (`input`, `moved`, `archived`) that delete these
 * rows from the outbox and insert them into the archive, for a statement of the caller's to start
 * with (`WITH ${archiveMoves(...)} SELECT ...`). Data-modifying CTEs run to completion whatever the
 * statement's own SELECT reads; that SELECT still sees the outbox as it was before the delete.
 */
export function archiveMoves(batch: readonly ArchivedRow[], now: number) {
  const positions = batch.map((b) => b.position.toString());
  return sql`input AS (
        SELECT * FROM unnest(${positions}::bigint[], ${batch.map((b) => merchantOf(b.event))}::text[])
          AS t(position, merchant_id)
      ), moved AS (
        DELETE FROM outbox o USING input i WHERE o.position = i.position
        RETURNING o.position, o.event_id, o.type, o.envelope, o.created_at, i.merchant_id
      ), archived AS (
        INSERT INTO events (id, merchant_id, type, envelope, created_at, published_at)
        SELECT event_id, merchant_id, type, envelope, created_at, ${now}::bigint FROM moved ORDER BY position
        ON CONFLICT (id) DO NOTHING
      )`;
}

/**
 * Moves published outbox rows into the archive: each row's envelope is copied by the database
 * itself (never sent back over the wire) and the row leaves the outbox: one statement on
 * PostgreSQL, two on SQLite, in the caller's transaction. The merchant is the one of the event the
 * relay already parsed (PostgreSQL) or read from the envelope by SQLite's json_extract.
 */
export async function moveToArchive(
  db: Transaction<Database>,
  dialect: Dialect,
  batch: readonly ArchivedRow[],
  now: number,
): Promise<void> {
  if (batch.length === 0) return;
  if (dialect === 'postgres') {
    await sql`WITH ${archiveMoves(batch, now)} SELECT count(*) FROM moved`.execute(db);
    return;
  }
  const positions = batch.map((b) => b.position.toString());
  // Under SQLite's limit on parameters per statement.
  for (let i = 0; i < batch.length; i += 500) {
    const slice = positions.slice(i, i + 500);
    await db
      .insertInto('events')
      .columns(['id', 'merchant_id', 'type', 'envelope', 'created_at', 'published_at'])
      .expression((eb) =>
        eb
          .selectFrom('outbox')
          .select([
            'event_id',
            sql<string | null>`json_extract(envelope, '$.data.merchant_id')`.as('merchant_id'),
            'type',
            'envelope',
            'created_at',
            sql.lit(now).as('published_at'),
          ])
          .where('position', 'in', slice)
          .orderBy('position'),
      )
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    await db.deleteFrom('outbox').where('position', 'in', slice).execute();
  }
}

/**
 * The smallest UUIDv7 of a millisecond: every id below it was made earlier. Ids are lowercase hex
 * (IdGenerator.uuid), so text order is time order.
 */
export function uuidFloorOf(ms: number): string {
  const h = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0').slice(-12);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-0000-0000-000000000000`;
}

/**
 * Deletes archived events created before `olderThanMs`, in batches; returns how many. It walks the
 * key (UUIDv7 ids sort by creation time), so it needs no index of its own.
 */
export async function purgeEvents(store: Store, olderThanMs: number): Promise<number> {
  const below = uuidFloorOf(olderThanMs);
  let total = 0;
  for (;;) {
    const deleted = await store.transaction(async (trx) => {
      const ids = await trx
        .selectFrom('events')
        .select('id')
        .where('id', '<', below)
        .where('created_at', '<', olderThanMs)
        .orderBy('id')
        .limit(eventPurgeBatchMax)
        .execute();
      if (ids.length === 0) return 0;
      const result = await trx
        .deleteFrom('events')
        .where(
          'id',
          'in',
          ids.map((r) => r.id),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
    total += deleted;
    if (deleted < eventPurgeBatchMax) return total;
  }
}

export interface EventFilter {
  merchantId: string;
  /** An exact type (`payment.succeeded`), or a prefix ending in `.*` (`payment.*`). */
  type?: string;
  createdGte?: number;
  createdLte?: number;
  startingAfter?: string;
  limit: number;
}

/** One archived event of a merchant. */
export async function findEvent(db: Db, id: string, merchantId: string): Promise<CloudEvent | undefined> {
  const row = await db
    .selectFrom('events')
    .select('envelope')
    .where('id', '=', id)
    .where('merchant_id', '=', merchantId)
    .executeTakeFirst();
  return row ? (JSON.parse(row.envelope) as CloudEvent) : undefined;
}

/** A merchant's archived events, newest first. */
export async function listEvents(db: Db, f: EventFilter): Promise<{ data: CloudEvent[]; hasMore: boolean }> {
  let q = db.selectFrom('events').select('envelope').where('merchant_id', '=', f.merchantId);
  if (f.type !== undefined) {
    if (f.type.endsWith('.*')) {
      const prefix = f.type.slice(0, -1);
      // substr, not LIKE (`_` is a wildcard there) nor a range (PostgreSQL's collation may order
      // punctuation its own way): the same bytes on both dialects.
      q = q.where(sql`substr(type, 1, ${sql.lit(prefix.length)})`, '=', prefix);
    } else {
      q = q.where('type', '=', f.type);
    }
  }
  if (f.createdGte !== undefined) q = q.where('created_at', '>=', f.createdGte);
  if (f.createdLte !== undefined) q = q.where('created_at', '<=', f.createdLte);
  if (f.startingAfter !== undefined) q = q.where('id', '<', f.startingAfter);
  const rows = await q
    .orderBy('id', 'desc')
    .limit(f.limit + 1)
    .execute();
  return {
    data: rows.slice(0, f.limit).map((r) => JSON.parse(r.envelope) as CloudEvent),
    hasMore: rows.length > f.limit,
  };
}
