import type { Generated } from 'kysely';
import type { Int64 } from '../store/database.ts';

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
  receipt_email: string | null;
  statement_descriptor: string | null;
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
  /** Failed or inconclusive reconciler attempts so far (bookkeeping, never shown). */
  reconcile_attempts: Generated<number>;
  /** Not before this (epoch ms) does the reconciler try again; null: as soon as it is old enough. */
  reconcile_next_at: Int64 | null;
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
  reconcile_attempts: Generated<number>;
  reconcile_next_at: Int64 | null;
}

declare module '../store/database.ts' {
  interface Database {
    payments: PaymentTable;
    refunds: RefundTable;
  }
}
