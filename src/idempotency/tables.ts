import type { Int64 } from '../store/database.ts';

export interface IdempotencyRecordTable {
  /** The API key that sent the first request (kept for the record; the scope is merchant + mode). */
  api_key_id: string;
  /** The scope of a key: one merchant, in one mode. Null only in rows older than the column. */
  merchant_id: string | null;
  livemode: number | null;
  key: string;
  /** SHA-256 over method, path and canonical body. */
  fingerprint: string;
  state: 'in_flight' | 'completed';
  resource_id: string | null;
  response_status: number | null;
  response_body: string | null;
  created_at: Int64;
  completed_at: Int64 | null;
}

declare module '../store/database.ts' {
  interface Database {
    idempotency_records: IdempotencyRecordTable;
  }
}
