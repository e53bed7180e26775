import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Catalogue,
  eventCatalogue,
  readEvent,
  UnreadableEventError,
} from '../../src/events/catalogue.ts';
import { type CloudEvent, dataschemaFor } from '../../src/events/envelope.ts';

/**
 * A catalogue with history, as paystream's will have once a schema changes: `parcel.shipped` v1
 * had a single `carrier` string; v2 split it into `carrier` and a nullable `service`; v3 added
 * `tracking` (null for what was shipped before it existed).
 */
const v1 = {
  type: 'object',
  additionalProperties: false,
  required: ['parcel_id', 'carrier'],
  properties: { parcel_id: { type: 'string' }, carrier: { type: 'string' } },
} as const;
const v2 = {
  type: 'object',
  additionalProperties: false,
  required: ['parcel_id', 'carrier', 'service'],
  properties: { ...v1.properties, service: { type: ['string', 'null'] } },
} as const;
const v3 = {
  type: 'object',
  additionalProperties: false,
  required: ['parcel_id', 'carrier', 'service', 'tracking'],
  properties: { ...v2.properties, tracking: { type: ['string', 'null'] } },
} as const;

const catalogue: Catalogue = {
  'parcel.shipped': {
    current: 3,
    versions: { 1: v1, 2: v2, 3: v3 },
    upcast: {
      1: (data) => {
        const [carrier, service = null] = String(data['carrier']).split(' ');
        return { ...data, carrier, service };
      },
      2: (data) => ({ ...data, tracking: null }),
    },
    source: '/test/parcels',
    topic: 'parcels',
  },
};

function event(version: number, data: Record<string, unknown>, type = 'parcel.shipped'): CloudEvent {
  return {
    specversion: '1.0',
    id: '01935f4e-0000-7000-8000-000000000001',
    source: '/test/parcels',
    type,
    subject: 'par_1',
    time: '2026-11-25T10:00:00.000Z',
    datacontenttype: 'application/json',
    dataschema: dataschemaFor(type, version),
    partitionkey: 'acct_1/cus_1',
    data,
  };
}

test('an old version is upcast step by step to the current one, and says so in dataschema', () => {
  const sent = event(1, { parcel_id: 'par_1', carrier: 'dhl express' });
  const read = readEvent(sent, catalogue);
  assert.equal(read.dataschema, 'urn:paystream:event:parcel.shipped:v3');
  assert.deepEqual(read.data, { parcel_id: 'par_1', carrier: 'dhl', service: 'express', tracking: null });
  assert.deepEqual(
    sent.data,
    { parcel_id: 'par_1', carrier: 'dhl express' },
    'the event read is not changed',
  );
  const fromV2 = readEvent(event(2, { parcel_id: 'par_1', carrier: 'ups', service: null }), catalogue);
  assert.deepEqual(fromV2.data, { parcel_id: 'par_1', carrier: 'ups', service: null, tracking: null });
});

test('the current version is returned as it is', () => {
  const current = event(3, { parcel_id: 'par_1', carrier: 'ups', service: null, tracking: '1Z' });
  assert.equal(readEvent(current, catalogue), current);
});

test('data that breaks the schema of its version is refused on read', () => {
  assert.throws(
    () => readEvent(event(1, { parcel_id: 'par_1' }), catalogue),
    (error: Error) =>
      error instanceof UnreadableEventError && /v1 data is invalid.*carrier/.test(error.message),
  );
  // Valid v1 data that says it is v2 is not v2.
  assert.throws(
    () => readEvent(event(2, { parcel_id: 'par_1', carrier: 'dhl' }), catalogue),
    UnreadableEventError,
  );
  // An upcaster that produces invalid data is caught at the next step.
  const broken: Catalogue = {
    'parcel.shipped': { ...catalogue['parcel.shipped']!, upcast: { 1: (data) => data, 2: (data) => data } },
  };
  assert.throws(
    () => readEvent(event(1, { parcel_id: 'par_1', carrier: 'dhl' }), broken),
    /v2 data is invalid/,
  );
});

test('a version newer than the reader knows, or a dataschema of another type, is refused', () => {
  assert.throws(
    () => readEvent(event(4, { parcel_id: 'par_1' }), catalogue),
    /parcel.shipped v4 is unknown here \(this reader knows up to v3\)/,
  );
  const mislabelled = { ...event(3, {}), dataschema: dataschemaFor('parcel.lost', 3) };
  assert.throws(() => readEvent(mislabelled, catalogue), UnreadableEventError);
});

test('a type the catalogue does not list passes through untouched', () => {
  const unknown = event(7, { anything: true }, 'fraud.alert_raised');
  assert.equal(readEvent(unknown, catalogue), unknown);
});

test("paystream's catalogue: every version below the current has an upcaster", () => {
  for (const [type, entry] of Object.entries(eventCatalogue as Catalogue)) {
    for (let version = 1; version < entry.current; version += 1) {
      assert.ok(entry.versions[version], `${type} v${version} has a schema`);
      assert.equal(typeof entry.upcast?.[version], 'function', `${type} v${version} -> v${version + 1}`);
    }
    assert.ok(entry.versions[entry.current], `${type} v${entry.current} has a schema`);
  }
});
