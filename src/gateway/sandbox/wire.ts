import { toNumber } from '../../store/store.ts';
import type { ChargeRow, RefundRow } from './ledger.ts';

/** The sandbox's JSON, Stripe-shaped: snake_case, `object`, amounts in minor units, `created` in seconds. */
export function chargeJson(row: ChargeRow) {
  return {
    id: row.id,
    object: 'charge' as const,
    amount: toNumber(row.amount),
    amount_refunded: toNumber(row.amount_refunded),
    currency: row.currency,
    payment_method: row.payment_method,
    description: row.description,
    status: row.status,
    decline_code: row.decline_code,
    failure_message: row.failure_message,
    idempotency_key: row.idempotency_key,
    created: Math.floor(toNumber(row.created_at) / 1000),
  };
}

export function refundJson(row: RefundRow) {
  return {
    id: row.id,
    object: 'refund' as const,
    amount: toNumber(row.amount),
    charge: row.charge_id,
    currency: row.currency,
    status: row.status,
    failure_reason: row.failure_reason,
    idempotency_key: row.idempotency_key,
    created: Math.floor(toNumber(row.created_at) / 1000),
  };
}
