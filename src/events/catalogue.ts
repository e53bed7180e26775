import { Ajv, type ValidateFunction } from 'ajv';
import { dataschemaFor } from './envelope.ts';
import { paymentFailedV1, paymentSucceededV1, refundFailedV1, refundSucceededV1 } from './schemas/v1.ts';

/**
 * The catalogue of event types paystream publishes: each type, its current version and the JSON
 * schema of every version. The outbox writer validates `data` against the current version, so a
 * malformed event can never be committed. Old versions stay listed so consumers can read them.
 */
export const eventCatalogue = {
  'payment.succeeded': {
    current: 1,
    versions: { 1: paymentSucceededV1 },
    source: '/paystream/payments',
    topic: 'payments',
  },
  'payment.failed': {
    current: 1,
    versions: { 1: paymentFailedV1 },
    source: '/paystream/payments',
    topic: 'payments',
  },
  'refund.succeeded': {
    current: 1,
    versions: { 1: refundSucceededV1 },
    source: '/paystream/refunds',
    topic: 'payments',
  },
  'refund.failed': {
    current: 1,
    versions: { 1: refundFailedV1 },
    source: '/paystream/refunds',
    topic: 'payments',
  },
} as const;

/**
 * The topic an event type is published on. A payment's and its refunds' events share `payments`,
 * so one customer's payment and refund events stay in one order; a type the catalogue does not
 * list goes to the topic named by its first segment (`fraud.alert_raised` -> `fraud`).
 */
export function topicOf(type: string): string {
  const entry = (eventCatalogue as Record<string, { topic: string } | undefined>)[type];
  return entry?.topic ?? type.split('.')[0]!;
}

export type EventType = keyof typeof eventCatalogue;

const ajv = new Ajv({ allErrors: true, strict: true });
const validators = new Map<string, ValidateFunction>();

export function validatorFor(type: EventType, version: number): ValidateFunction {
  const schemaId = dataschemaFor(type, version);
  let validate = validators.get(schemaId);
  if (!validate) {
    const entry = eventCatalogue[type];
    const schema = (entry.versions as Record<number, object>)[version];
    if (!schema) throw new Error(`no schema for ${type} v${version}`);
    validate = ajv.compile(schema);
    validators.set(schemaId, validate);
  }
  return validate;
}

export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
}

/** Throws when `data` does not follow the type's current schema. */
export function assertEventData(type: EventType, data: unknown): void {
  const validate = validatorFor(type, eventCatalogue[type].current);
  if (!validate(data)) {
    throw new InvalidEventError(`${type} data is invalid: ${ajv.errorsText(validate.errors)}`);
  }
}
