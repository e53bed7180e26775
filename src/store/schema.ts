import type { Generated } from 'kysely';

/**
 * Table types of the paystream database. Money and timestamps are integers: amounts in minor units
 * (read back as bigint by the repositories), times in epoch milliseconds. Both dialects store them
 * as 64-bit integers.
 */
export interface Database {
  api_keys: ApiKeyTable;
  idempotency_records: IdempotencyRecordTable;
  payments: PaymentTable;
  refunds: RefundTable;
  outbox: OutboxTable;
}

type Int64 = number | bigint | string;

export interface ApiKeyTable {
  id: string;
  merchant_id: string;
  livemode: number;
  /** SHA-256 of the secret, hex; the secret itself is never stored. */
  secret_hash: string;
  /** `sk_test_abcd...wxyz`: enough to recognise a key in a list. */
  redacted: string;
  name: string | null;
  created_at: Int64;
  revoked_at: Int64 | null;
}

export interface IdempotencyRecordTable {
  /** Keys are scoped per API key. */
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

export interface PaymentTable {
  id: string;
  merchant_id: string;
  livemode: number;
  customer_id: string;
  amount: Int64;
  currency: string;
  payment_method: string;
  description: string | null;
  metadata: string;
  status: 'processing' | 'succeeded' | 'failed';
  failure_code: string | null;
  failure_message: string | null;
  gateway_charge_id: string | null;
  /** Sum of succeeded refunds. */
  amount_refunded: Int64;
  /** Sum of pending and succeeded refunds: what can no longer be refunded. */
  amount_refund_reserved: Int64;
  created_at: Int64;
  updated_at: Int64;
}

export interface RefundTable {
  id: string;
  payment_id: string;
  merchant_id: string;
  amount: Int64;
  currency: string;
  reason: string | null;
  metadata: string;
  status: 'pending' | 'succeeded' | 'failed';
  failure_reason: string | null;
  gateway_refund_id: string | null;
  created_at: Int64;
  updated_at: Int64;
}

export interface OutboxTable {
  /** Commit order of the outbox; the relay publishes in this order. */
  position: Generated<Int64>;
  /** The CloudEvents id (UUIDv7). */
  event_id: string;
  type: string;
  /** Partition key (the customer id): events of one key stay in order. */
  partition_key: string;
  /** The whole CloudEvents 1.0 envelope as JSON (structured mode). */
  envelope: string;
  created_at: Int64;
}
