import type { Generated } from 'kysely';
import type { Int64 } from '../store/database.ts';

export interface OutboxTable {
  /** Commit order of the outbox; the relay publishes in this order. */
  position: Generated<Int64>;
  /** The CloudEvents id (UUIDv7). */
  event_id: string;
  type: string;
  /** Partition key: events of one key stay in order. */
  partition_key: string;
  /** The whole CloudEvents 1.0 envelope as JSON (structured mode). */
  envelope: string;
  created_at: Int64;
}

/**
 * Published events, kept for the events API (`GET /v1/events`) for the retention period. The relay
 * moves each event here from the outbox in the transaction that removes it from the outbox, so the
 * outbox stays a short queue and the payment write pays for no second insert.
 */
export interface EventsTable {
  /** The CloudEvents id (UUIDv7: sorts in creation order). */
  id: string;
  /** The merchant the event belongs to (`data.merchant_id`); null: not listed by the API. */
  merchant_id: string | null;
  type: string;
  /** The whole CloudEvents envelope as JSON, as it was published. */
  envelope: string;
  /** The event's time, epoch milliseconds. */
  created_at: Int64;
  /** When the relay moved it here, epoch milliseconds. */
  published_at: Int64;
}

declare module '../store/database.ts' {
  interface Database {
    outbox: OutboxTable;
    events: EventsTable;
  }
}
