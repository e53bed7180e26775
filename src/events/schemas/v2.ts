import { paymentSucceededV1, refundSucceededV1 } from './v1.ts';

/**
 * Version 2 of the success events: v1 plus where the customer's receipt goes and the merchant name
 * it shows (the payment's `receipt_email` and `statement_descriptor`; a refund carries its
 * payment's). Both are required and nullable: null means "none given", never "unknown field".
 * Never edit a released version: add v3 and an upcaster.
 */

const receiptFields = {
  receipt_email: { type: ['string', 'null'] },
  statement_descriptor: { type: ['string', 'null'] },
} as const;

export const paymentSucceededV2 = {
  type: 'object',
  additionalProperties: false,
  required: [...paymentSucceededV1.required, ...Object.keys(receiptFields)],
  properties: { ...paymentSucceededV1.properties, ...receiptFields },
} as const;

export const refundSucceededV2 = {
  type: 'object',
  additionalProperties: false,
  required: [...refundSucceededV1.required, ...Object.keys(receiptFields)],
  properties: { ...refundSucceededV1.properties, ...receiptFields },
} as const;

/** v1 -> v2 of both: events written before the fields existed had no receipt address or descriptor. */
export function withoutReceiptFields(data: Record<string, unknown>): Record<string, unknown> {
  return { ...data, receipt_email: null, statement_descriptor: null };
}
