import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../store/database.ts';
import type { Store } from '../store/store.ts';
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

/** Keeps the events (each with its envelope as JSON, as the outbox holds it) in the archive. */
export async function archiveEvents(
  trx: Transaction<Database>,
  events: readonly { event: CloudEvent; envelope: string }[],
  now: number,
): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map(({ event, envelope }) => {
    return {
      id: event.id,
      merchant_id: merchantOf(event),
      type: event.type,
      envelope,
      created_at: Date.parse(event.time),
      published_at: now,
    };
  });
  // Under SQLite's and PostgreSQL's limits on parameters per statement (6 per row).
  for (let i = 0; i < rows.length; i += 500) {
    await trx
      .insertInto('events')
      .values(rows.slice(i, i + 500))
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
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
