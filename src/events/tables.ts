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

declare module '../store/database.ts' {
  interface Database {
    outbox: OutboxTable;
  }
}
