import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromRecord, MalformedEventError, toRecord } from '../../src/events/binary-mode.ts';
import type { CloudEvent } from '../../src/events/envelope.ts';

const event: CloudEvent = {
  specversion: '1.0',
  id: '01a20f45-6522-7000-8eb1-73d33a2fd962',
  source: '/paystream/payments',
  type: 'payment.succeeded',
  subject: 'pay_01M87MAS81E008TFKETBT2MRCT',
  time: '2026-11-24T20:35:35.842Z',
  datacontenttype: 'application/json',
  dataschema: 'urn:paystream:event:payment.succeeded:v1',
  partitionkey: 'acct_01M87MAHGNE008GP8DZH810MDW/cus_alice',
  data: { amount: 2500, note: 'ünïcödé ✓' },
};

test('an event becomes a binary-mode record (ce_* headers, data as the value, keyed by partition key) and back', () => {
  const record = toRecord(event);
  assert.equal(record.key, event.partitionkey);
  assert.equal(record.headers['ce_id'], event.id);
  assert.equal(record.headers['ce_type'], event.type);
  assert.equal(record.headers['ce_source'], event.source);
  assert.equal(record.headers['ce_specversion'], '1.0');
  assert.equal(record.headers['ce_time'], event.time);
  assert.equal(record.headers['ce_subject'], event.subject);
  assert.equal(record.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(record.value), event.data);
  assert.deepEqual(fromRecord(record), event);
});

test('a record missing an attribute or with another content type is refused by name', () => {
  const record = toRecord(event);
  const { ce_id: _, ...withoutId } = record.headers;
  assert.throws(() => fromRecord({ ...record, headers: withoutId }), MalformedEventError);
  assert.throws(
    () => fromRecord({ ...record, headers: { ...record.headers, 'content-type': 'text/xml' } }),
    /content-type/,
  );
  assert.throws(() => fromRecord({ ...record, value: '{not json' }), /not JSON/);
});
