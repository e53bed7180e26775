import { Ajv, type ValidateFunction } from 'ajv';
import { type CloudEvent, dataschemaFor } from './envelope.ts';
import { paymentFailedV1, paymentSucceededV1, refundFailedV1, refundSucceededV1 } from './schemas/v1.ts';
import { paymentSucceededV2, refundSucceededV2, withoutReceiptFields } from './schemas/v2.ts';

/**
 * One event type: its current version, the JSON schema of every version, and an upcaster from each
 * old version to the next (`upcast[1]` turns v1 data into v2 data). A new version is added, never
 * an old one edited: events already in the log and the archive keep the version they were written
 * with, and readers upcast them (readEvent).
 */
export interface CatalogueEntry {
  readonly current: number;
  readonly versions: Readonly<Record<number, object>>;
  readonly upcast?: Readonly<Record<number, (data: Record<string, unknown>) => Record<string, unknown>>>;
  readonly source: string;
  readonly topic: string;
}

export type Catalogue = Readonly<Record<string, CatalogueEntry>>;

/**
 * The catalogue of event types paystream publishes: each type, its current version and the JSON
 * schema of every version. The outbox writer validates `data` against the current version, so a
 * malformed event can never be committed. Old versions stay listed so consumers can read them.
 */
export const eventCatalogue = {
  'payment.succeeded': {
    current: 2,
    versions: { 1: paymentSucceededV1, 2: paymentSucceededV2 },
    upcast: { 1: withoutReceiptFields },
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
    current: 2,
    versions: { 1: refundSucceededV1, 2: refundSucceededV2 },
    upcast: { 1: withoutReceiptFields },
    source: '/paystream/refunds',
    topic: 'payments',
  },
  'refund.failed': {
    current: 1,
    versions: { 1: refundFailedV1 },
    source: '/paystream/refunds',
    topic: 'payments',
  },
} as const satisfies Catalogue;

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
/** Compiled validators by catalogue entry and version (a test catalogue gets its own). */
const validators = new WeakMap<CatalogueEntry, Map<number, ValidateFunction>>();

function validatorOf(type: string, entry: CatalogueEntry, version: number): ValidateFunction {
  let byVersion = validators.get(entry);
  if (!byVersion) {
    byVersion = new Map();
    validators.set(entry, byVersion);
  }
  let validate = byVersion.get(version);
  if (!validate) {
    const schema = entry.versions[version];
    if (!schema) throw new Error(`no schema for ${type} v${version}`);
    validate = ajv.compile(schema);
    byVersion.set(version, validate);
  }
  return validate;
}

export function validatorFor(type: EventType, version: number): ValidateFunction {
  return validatorOf(type, eventCatalogue[type], version);
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

/** An event a reader cannot take: its data breaks its version's schema, or its version is unknown. */
export class UnreadableEventError extends Error {
  override name = 'UnreadableEventError';
}

const dataschemaPattern = /^urn:paystream:event:(.+):v([1-9][0-9]{0,5})$/;

/**
 * What every reader of events calls (consumers, the events API, `events tail`): checks the event's
 * data against the schema of the version it was written with (`dataschema`), then upcasts it, one
 * version at a time, to the type's current version, checking each step's result too. The event
 * returned says the current version in its `dataschema`. A type the catalogue does not list is
 * returned as it is: readers skip what they do not know, and a service's own events are not the
 * core's to judge. Throws UnreadableEventError for data that breaks its schema, and for a version
 * newer than this code knows (a reader older than the writer: deploy readers first).
 */
export function readEvent(event: CloudEvent, catalogue: Catalogue = eventCatalogue): CloudEvent {
  const entry = Object.hasOwn(catalogue, event.type) ? catalogue[event.type] : undefined;
  if (!entry) return event;
  const match = dataschemaPattern.exec(event.dataschema);
  if (!match || match[1] !== event.type) {
    throw new UnreadableEventError(
      `event ${event.id}: dataschema ${event.dataschema} does not name a version of ${event.type}`,
    );
  }
  let version = Number(match[2]);
  if (!entry.versions[version]) {
    throw new UnreadableEventError(
      `event ${event.id}: ${event.type} v${version} is unknown here (this reader knows up to v${entry.current})`,
    );
  }
  let data = event.data as Record<string, unknown>;
  for (;;) {
    const validate = validatorOf(event.type, entry, version);
    if (!validate(data)) {
      throw new UnreadableEventError(
        `event ${event.id}: ${event.type} v${version} data is invalid: ${ajv.errorsText(validate.errors)}`,
      );
    }
    if (version >= entry.current) break;
    const up = entry.upcast?.[version];
    if (!up)
      throw new Error(`the catalogue has no upcaster for ${event.type} v${version} -> v${version + 1}`);
    data = up(structuredClone(data));
    version += 1;
  }
  return version === Number(match[2])
    ? event
    : { ...event, dataschema: dataschemaFor(event.type, version), data };
}
