import { type CreatedFilterQuery, createdFilterProperties } from '../http/created-filter.ts';
import { amountMinorUnitsMax } from './currencies.ts';

/** JSON schemas of the payments API: request bodies, query strings and response objects. */

/**
 * A metadata key is a name: no control character, quote or backslash. JSON writes those as escapes,
 * and V8's JSON.parse in Node 24 can read a key ending in an escape as one ending in a backslash
 * (nodejs/node#63785): a stored key with an escape could read back as another.
 */
const metadataKeyPattern = '^[^\\u0000-\\u001f"\\\\]+$';

const metadata = {
  type: 'object',
  description:
    'Up to 50 string pairs, keys up to 40 characters (no control character, quote or backslash), values up to 500.',
  maxProperties: 50,
  propertyNames: { minLength: 1, maxLength: 40, pattern: metadataKeyPattern },
  additionalProperties: { type: 'string', maxLength: 500 },
} as const;

/**
 * An address a receipt can be sent to: an ASCII local part of the characters RFC 5322 allows
 * unquoted, an `@`, and a domain of at least two labels. Narrower than the RFC on purpose (no quoted
 * local parts, no address literals, no spaces or line breaks): whatever passes is safe in a header.
 */
export const receiptEmailPattern =
  "^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$";

/**
 * Stripe's statement descriptor: 1 to 22 characters, not all spaces, none of `< > \ ' " *` and no
 * control character (it goes into a receipt's text and HTML).
 */
export const statementDescriptorPattern = '^(?=.*[^ ])[^<>\\\\\'"*\\u0000-\\u001f\\u007f]{1,22}$';

const resourceId = (prefix: string) => ({ type: 'string', pattern: `^${prefix}_[0-9A-Z]{26}$` }) as const;

export const createPaymentBody = {
  type: 'object',
  additionalProperties: false,
  required: ['customer_id', 'amount', 'currency', 'payment_method'],
  properties: {
    customer_id: {
      type: 'string',
      minLength: 1,
      maxLength: 128,
      pattern: '^[A-Za-z0-9_.:@-]+$',
      description: 'Your id for the customer; events of one customer stay in order.',
    },
    amount: {
      type: 'integer',
      minimum: 1,
      maximum: amountMinorUnitsMax,
      description: 'Integer amount in the currency minor unit (cents for usd, yen for jpy).',
    },
    currency: { type: 'string', pattern: '^[A-Za-z]{3}$', description: 'ISO 4217 code, e.g. usd.' },
    payment_method: {
      type: 'string',
      pattern: '^pm_[A-Za-z0-9_]{1,100}$',
      description: 'A payment method token, e.g. pm_card_visa in the sandbox.',
    },
    description: { type: ['string', 'null'], maxLength: 1000 },
    metadata,
    receipt_email: {
      type: ['string', 'null'],
      maxLength: 254,
      pattern: receiptEmailPattern,
      description:
        'The customer address a receipt is sent to when the payment succeeds (and for its refunds).',
    },
    statement_descriptor: {
      type: ['string', 'null'],
      minLength: 1,
      maxLength: 22,
      pattern: statementDescriptorPattern,
      description: 'The merchant name the receipt shows: 1 to 22 characters, none of < > \\ \' " *.',
    },
  },
} as const;

export interface CreatePaymentBody {
  customer_id: string;
  amount: number;
  currency: string;
  payment_method: string;
  description?: string | null;
  metadata?: Record<string, string>;
  receipt_email?: string | null;
  statement_descriptor?: string | null;
}

export const paymentSchema = {
  type: 'object',
  required: ['id', 'object', 'amount', 'currency', 'status', 'created'],
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['payment'] },
    amount: { type: 'integer' },
    amount_refunded: { type: 'integer' },
    currency: { type: 'string' },
    customer_id: { type: 'string' },
    payment_method: { type: 'string' },
    description: { type: ['string', 'null'] },
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    receipt_email: { type: ['string', 'null'] },
    statement_descriptor: { type: ['string', 'null'] },
    status: { type: 'string', enum: ['processing', 'succeeded', 'failed'] },
    failure_code: { type: ['string', 'null'], description: 'The decline code when status is failed.' },
    failure_message: { type: ['string', 'null'] },
    livemode: { type: 'boolean' },
    created: { type: 'integer', description: 'Unix time in seconds.' },
  },
} as const;

export const listPaymentsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    customer_id: { type: 'string', minLength: 1, maxLength: 128 },
    status: { type: 'string', enum: ['processing', 'succeeded', 'failed'] },
    ...createdFilterProperties,
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
    starting_after: { ...resourceId('pay'), description: 'The last id of the previous page.' },
  },
} as const;

export interface ListPaymentsQuery extends CreatedFilterQuery {
  customer_id?: string;
  status?: string;
  limit: number;
  starting_after?: string;
}

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

export const createRefundBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    amount: {
      type: 'integer',
      minimum: 1,
      maximum: amountMinorUnitsMax,
      description: 'Defaults to what is left to refund.',
    },
    reason: { type: ['string', 'null'], enum: ['duplicate', 'fraudulent', 'requested_by_customer', null] },
    metadata,
  },
} as const;

export interface CreateRefundBody {
  amount?: number;
  reason?: string | null;
  metadata?: Record<string, string>;
}

export const refundSchema = {
  type: 'object',
  required: ['id', 'object', 'payment', 'amount', 'currency', 'status', 'created'],
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['refund'] },
    payment: { type: 'string' },
    amount: { type: 'integer' },
    currency: { type: 'string' },
    reason: { type: ['string', 'null'] },
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    status: { type: 'string', enum: ['pending', 'succeeded', 'failed'] },
    failure_reason: { type: ['string', 'null'] },
    created: { type: 'integer' },
  },
} as const;

export const listRefundsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
    starting_after: resourceId('re'),
  },
} as const;
