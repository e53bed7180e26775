/** Version 1 of each event's `data` schema. Never edit a released version: add v2 and an upcaster. */

const id = (prefix: string) => ({ type: 'string', pattern: `^${prefix}_[0-9A-Z]{26}$` }) as const;
const amount = { type: 'integer', minimum: 1 } as const;
const money = { type: 'integer', minimum: 0 } as const;
const currency = { type: 'string', pattern: '^[a-z]{3}$' } as const;
const nullableString = { type: ['string', 'null'] } as const;
const metadata = { type: 'object', additionalProperties: { type: 'string' } } as const;
const epochSeconds = { type: 'integer', minimum: 0 } as const;

const paymentFields = {
  payment_id: id('pay'),
  merchant_id: id('acct'),
  customer_id: { type: 'string', minLength: 1 },
  amount,
  currency,
  payment_method: { type: 'string' },
  description: nullableString,
  metadata,
  livemode: { type: 'boolean' },
  created: epochSeconds,
} as const;

export const paymentSucceededV1 = {
  type: 'object',
  additionalProperties: false,
  required: [...Object.keys(paymentFields), 'gateway_charge_id'],
  properties: { ...paymentFields, gateway_charge_id: { type: 'string' } },
} as const;

export const paymentFailedV1 = {
  type: 'object',
  additionalProperties: false,
  required: [...Object.keys(paymentFields), 'failure_code', 'failure_message'],
  properties: {
    ...paymentFields,
    failure_code: { type: 'string' },
    failure_message: { type: 'string' },
    gateway_charge_id: nullableString,
  },
} as const;

const refundFields = {
  refund_id: id('re'),
  payment_id: id('pay'),
  merchant_id: id('acct'),
  customer_id: { type: 'string', minLength: 1 },
  amount,
  currency,
  reason: nullableString,
  metadata,
  payment_amount: amount,
  created: epochSeconds,
} as const;

export const refundSucceededV1 = {
  type: 'object',
  additionalProperties: false,
  required: [...Object.keys(refundFields), 'payment_amount_refunded'],
  properties: { ...refundFields, payment_amount_refunded: money },
} as const;

export const refundFailedV1 = {
  type: 'object',
  additionalProperties: false,
  required: [...Object.keys(refundFields), 'failure_reason'],
  properties: { ...refundFields, failure_reason: { type: 'string' } },
} as const;
