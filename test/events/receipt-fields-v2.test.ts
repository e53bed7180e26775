import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertEventData,
  eventCatalogue,
  readEvent,
  UnreadableEventError,
} from '../../src/events/catalogue.ts';
import { type CloudEvent, dataschemaFor } from '../../src/events/envelope.ts';

/**
 * payment.succeeded and refund.succeeded v2 add `receipt_email` and `statement_descriptor`. Events
 * written as v1 (in the log, the archive, a replay years later) still read, as v2 with both null.
 */
const merchant = `acct_${'1'.repeat(26)}`;
const paymentId = `pay_${'2'.repeat(26)}`;

const paymentV1 = {
  payment_id: paymentId,
  merchant_id: merchant,
  customer_id: 'cus_old',
  amount: 2500,
  currency: 'usd',
  payment_method: 'pm_card_visa',
  description: 'Blue mug',
  metadata: {},
  livemode: false,
  created: 1_795_551_504,
  gateway_charge_id: 'ch_1',
};

const refundV1 = {
  refund_id: `re_${'3'.repeat(26)}`,
  payment_id: paymentId,
  merchant_id: merchant,
  customer_id: 'cus_old',
  amount: 1000,
  currency: 'usd',
  reason: null,
  metadata: {},
  payment_amount: 2500,
  created: 1_795_552_540,
  payment_amount_refunded: 1000,
};

function event(type: string, version: number, data: Record<string, unknown>): CloudEvent {
  return {
    specversion: '1.0',
    id: '01935f4e-0000-7000-8000-0000000000aa',
    source: '/paystream/payments',
    type,
    subject: String(data['refund_id'] ?? data['payment_id']),
    time: '2026-11-24T20:18:24.000Z',
    datacontenttype: 'application/json',
    dataschema: dataschemaFor(type, version),
    partitionkey: `${merchant}/cus_old`,
    data,
  };
}

test('the success events are at v2; the failure events stay at v1', () => {
  assert.equal(eventCatalogue['payment.succeeded'].current, 2);
  assert.equal(eventCatalogue['refund.succeeded'].current, 2);
  assert.equal(eventCatalogue['payment.failed'].current, 1);
  assert.equal(eventCatalogue['refund.failed'].current, 1);
});

test('a v1 payment.succeeded or refund.succeeded reads as v2 with no receipt address or descriptor', () => {
  for (const [type, data] of [
    ['payment.succeeded', paymentV1],
    ['refund.succeeded', refundV1],
  ] as const) {
    const read = readEvent(event(type, 1, data));
    assert.equal(read.dataschema, `urn:paystream:event:${type}:v2`);
    assert.deepEqual(read.data, { ...data, receipt_email: null, statement_descriptor: null });
  }
});

test('v2 data is read as it is; v2 without the new fields, or v1 with them, is refused', () => {
  const v2 = { ...paymentV1, receipt_email: 'ada@example.com', statement_descriptor: 'ADA MUGS' };
  const current = event('payment.succeeded', 2, v2);
  assert.equal(readEvent(current), current);
  assert.throws(() => readEvent(event('payment.succeeded', 2, paymentV1)), UnreadableEventError);
  assert.throws(() => readEvent(event('payment.succeeded', 1, v2)), UnreadableEventError);
  assert.throws(
    () =>
      readEvent(event('refund.succeeded', 2, { ...refundV1, receipt_email: 7, statement_descriptor: null })),
    UnreadableEventError,
  );
});

test('the outbox writer takes v2 data only: v1-shaped data is refused', () => {
  assert.throws(
    () => assertEventData('payment.succeeded', paymentV1),
    /must have required property 'receipt_email'/,
  );
  assertEventData('payment.succeeded', { ...paymentV1, receipt_email: null, statement_descriptor: null });
  assertEventData('refund.succeeded', { ...refundV1, receipt_email: 'a@b.co', statement_descriptor: null });
});
