import type { Generated } from 'kysely';
import type { Int64 } from '../store/database.ts';

/**
 * The inbox: one row per event a consumer has applied. Written in the same transaction as the
 * consumer's own writes, so a redelivered event finds its row and is skipped.
 */
export interface InboxTable {
  consumer: string;
  event_id: string;
  processed_at: Int64;
}

export type DeadLetterStatus = 'pending' | 'redrive_requested' | 'redriving' | 'redriven' | 'discarded';

/**
 * Events a consumer gave up on (after its attempts, or at once for an event it cannot read), with
 * the record as it came (key, headers, value) so a redrive hands the handler the very same event.
 * One row per consumer and event: a second failure of the same event updates it.
 */
export interface DeadLettersTable {
  id: string;
  consumer: string;
  event_id: string;
  event_type: string;
  partition_key: string;
  topic: string;
  partition: number;
  offset: string;
  headers: string;
  value: string;
  /** `handler_failed`, `timeout`, `unreadable`. */
  reason: string;
  attempts: number;
  error: string;
  status: DeadLetterStatus;
  /** Why it was discarded (an operator's words). */
  discard_reason: string | null;
  /** Who holds a redrive in progress, and since when (a crashed holder's claim expires). */
  claimed_by: string | null;
  claimed_at: Int64 | null;
  redrives: Generated<number>;
  created_at: Int64;
  updated_at: Int64;
}

declare module '../store/database.ts' {
  interface Database {
    runtime_inbox: InboxTable;
    runtime_dead_letters: DeadLettersTable;
  }
}
