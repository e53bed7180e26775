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

declare module '../store/database.ts' {
  interface Database {
    payments: PaymentTable;
    refunds: RefundTable;
  }
}
