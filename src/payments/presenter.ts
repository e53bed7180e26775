import type { Payment, Refund } from './payment.ts';

/** The API's JSON shapes (Stripe-like: snake_case, `object`, integer minor units, `created` in seconds). */
export function paymentJson(p: Payment) {
  return {
    id: p.id,
    object: 'payment' as const,
    amount: Number(p.amount),
    amount_refunded: Number(p.amountRefunded),
    currency: p.currency,
    customer_id: p.customerId,
    payment_method: p.paymentMethod,
    description: p.description,
    metadata: p.metadata,
    receipt_email: p.receiptEmail,
    statement_descriptor: p.statementDescriptor,
    status: p.status,
    failure_code: p.failureCode,
    failure_message: p.failureMessage,
    livemode: p.livemode,
    created: Math.floor(p.createdAt / 1000),
  };
}

export function refundJson(r: Refund) {
  return {
    id: r.id,
    object: 'refund' as const,
    payment: r.paymentId,
    amount: Number(r.amount),
    currency: r.currency,
    reason: r.reason,
    metadata: r.metadata,
    status: r.status,
    failure_reason: r.failureReason,
    created: Math.floor(r.createdAt / 1000),
  };
}

/** `data` of payment.succeeded / payment.failed (schemas in src/events/schemas). */
export function paymentEventData(p: Payment): Record<string, unknown> {
  const data: Record<string, unknown> = {
    payment_id: p.id,
    merchant_id: p.merchantId,
    customer_id: p.customerId,
    amount: Number(p.amount),
    currency: p.currency,
    payment_method: p.paymentMethod,
    description: p.description,
    metadata: p.metadata,
    livemode: p.livemode,
    created: Math.floor(p.createdAt / 1000),
    gateway_charge_id: p.gatewayChargeId,
  };
  if (p.status === 'failed') {
    data['failure_code'] = p.failureCode;
    data['failure_message'] = p.failureMessage;
  } else {
    // payment.succeeded v2: where its receipt goes, and the name the receipt shows.
    data['receipt_email'] = p.receiptEmail;
    data['statement_descriptor'] = p.statementDescriptor;
  }
  return data;
}

/** `data` of refund.succeeded / refund.failed. */
export function refundEventData(r: Refund, p: Payment): Record<string, unknown> {
  const data: Record<string, unknown> = {
    refund_id: r.id,
    payment_id: p.id,
    merchant_id: p.merchantId,
    customer_id: p.customerId,
    amount: Number(r.amount),
    currency: r.currency,
    reason: r.reason,
    metadata: r.metadata,
    payment_amount: Number(p.amount),
    created: Math.floor(r.createdAt / 1000),
  };
  if (r.status === 'succeeded') {
    data['payment_amount_refunded'] = Number(p.amountRefunded);
    // refund.succeeded v2: the refund's receipt goes where the payment's went.
    data['receipt_email'] = p.receiptEmail;
    data['statement_descriptor'] = p.statementDescriptor;
  } else data['failure_reason'] = r.failureReason;
  return data;
}
