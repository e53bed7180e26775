import type { Int64 } from '../store/database.ts';

export interface IdempotencyRecordTable {
  /** A key's scope: one merchant in one mode (the primary key is merchant_id, livemode, key). */
  merchant_id: string;
  livemode: number;
  /** The API key that sent the first request (kept for the record). */
  api_key_id: string;
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
