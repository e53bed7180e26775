/**
 * Table types of the sandbox gateway's own database: a separate SQLite file, because the sandbox
 * plays an outside processor and must not share a transaction (or a fate) with paystream's store.
 * Amounts are integer minor units; times are epoch milliseconds.
 */
export interface SandboxDatabase {
  charges: SandboxChargeTable;
  refunds: SandboxRefundTable;
}

type Int64 = number | bigint | string;

export interface SandboxChargeTable {
  /** `ch_...` */
  id: string;
  /** The caller's Idempotency-Key: one charge per key, ever. */
  idempotency_key: string;
  /** SHA-256 of the charge parameters, to refuse a key reused with other parameters. */
  fingerprint: string;
  amount: Int64;
  currency: string;
  payment_method: string;
  description: string | null;
  status: 'succeeded' | 'failed';
  decline_code: string | null;
  failure_message: string | null;
  /** Sum of succeeded refunds; a CHECK keeps it within `amount`. */
  amount_refunded: Int64;
  created_at: Int64;
}

export interface SandboxRefundTable {
  /** `gre_...` */
  id: string;
  idempotency_key: string;
  fingerprint: string;
  charge_id: string;
  amount: Int64;
  currency: string;
  status: 'succeeded' | 'failed';
  failure_reason: string | null;
  created_at: Int64;
}
