import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';
import { writtenEvents } from '../support/events.ts';

const visa = { customer_id: 'cus_rcpt', amount: 1999, currency: 'usd', payment_method: 'pm_card_visa' };

/** Each refused with 400 PAYSTREAM_VALIDATION naming the field, and nothing written. */
const badFields: Array<[string, Record<string, unknown>, string]> = [
  ['no @', { receipt_email: 'ada.example.com' }, 'receipt_email'],
  ['no domain dot', { receipt_email: 'ada@localhost' }, 'receipt_email'],
  ['two @', { receipt_email: 'ada@b@example.com' }, 'receipt_email'],
  ['a space', { receipt_email: 'ada lovelace@example.com' }, 'receipt_email'],
  [
    'a line break (header injection)',
    { receipt_email: 'ada@example.com\r\nBcc: x@evil.test' },
    'receipt_email',
  ],
  ['angle brackets', { receipt_email: 'Ada <ada@example.com>' }, 'receipt_email'],
  [
    'longer than 254 (each part within its own limit)',
    { receipt_email: `${'a'.repeat(60)}@${`${'b'.repeat(61)}.`.repeat(4)}com` },
    'receipt_email',
  ],
  ['not a string', { receipt_email: 42 }, 'receipt_email'],
  ['empty', { receipt_email: '' }, 'receipt_email'],
  ['local part over 64', { receipt_email: `${'a'.repeat(65)}@example.com` }, 'receipt_email'],
  ['descriptor too long', { statement_descriptor: 'x'.repeat(23) }, 'statement_descriptor'],
  ['descriptor empty', { statement_descriptor: '' }, 'statement_descriptor'],
  ['descriptor all spaces', { statement_descriptor: '   ' }, 'statement_descriptor'],
  ['descriptor with <', { statement_descriptor: '<b>MUGS</b>' }, 'statement_descriptor'],
  ['descriptor with a quote', { statement_descriptor: 'Ada"s mugs' }, 'statement_descriptor'],
  ['descriptor with a backslash', { statement_descriptor: 'MUGS\\CO' }, 'statement_descriptor'],
  ['descriptor with *', { statement_descriptor: 'MUGS*CO' }, 'statement_descriptor'],
];

for (const dialect of dialects()) {
  describe(`receipt_email and statement_descriptor on payments (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(() => t.close());

    test('a bad address or descriptor is a 400 naming it, and writes nothing', async () => {
      for (const [name, fields, param] of badFields) {
        const before = await t.counts();
        const res = await t.post('/v1/payments', { ...visa, ...fields });
        assert.equal(res.status, 400, name);
        assert.equal(res.json.error.code, 'PAYSTREAM_VALIDATION', name);
        assert.equal(res.json.error.param, param, name);
        assert.deepEqual(await t.counts(), before, `${name}: nothing written`);
      }
    });

    test('the fields are stored, returned, and carried by payment.succeeded and refund.succeeded v2', async () => {
      const res = await t.post('/v1/payments', {
        ...visa,
        receipt_email: "ada.o'neil+mugs@mail.example.co.uk",
        statement_descriptor: 'ADA MUGS & CO',
      });
      assert.equal(res.status, 200);
      assert.equal(res.json.status, 'succeeded');
      assert.equal(res.json.receipt_email, "ada.o'neil+mugs@mail.example.co.uk");
      assert.equal(res.json.statement_descriptor, 'ADA MUGS & CO');
      const read = await t.get(`/v1/payments/${res.json.id}`);
      assert.equal(read.json.receipt_email, "ada.o'neil+mugs@mail.example.co.uk");
      assert.equal(read.json.statement_descriptor, 'ADA MUGS & CO');

      const refund = await t.post(`/v1/payments/${res.json.id}/refunds`, { amount: 500 });
      assert.equal(refund.json.status, 'succeeded');
      const events = (await writtenEvents(t.app.store)).filter((e) => e.data.payment_id === res.json.id);
      assert.deepEqual(
        events.map((e) => [e.type, e.dataschema, e.data.receipt_email, e.data.statement_descriptor]),
        [
          [
            'payment.succeeded',
            'urn:paystream:event:payment.succeeded:v2',
            "ada.o'neil+mugs@mail.example.co.uk",
            'ADA MUGS & CO',
          ],
          [
            'refund.succeeded',
            'urn:paystream:event:refund.succeeded:v2',
            "ada.o'neil+mugs@mail.example.co.uk",
            'ADA MUGS & CO',
          ],
        ],
      );
    });

    test('both are optional: absent or null, stored and published as null', async () => {
      for (const fields of [{}, { receipt_email: null, statement_descriptor: null }]) {
        const res = await t.post('/v1/payments', { ...visa, ...fields });
        assert.equal(res.status, 200);
        assert.equal(res.json.receipt_email, null);
        assert.equal(res.json.statement_descriptor, null);
        const [event] = (await writtenEvents(t.app.store)).filter((e) => e.subject === res.json.id);
        assert.equal(event.data.receipt_email, null);
        assert.equal(event.data.statement_descriptor, null);
      }
    });

    test('a declined payment has its fields too, and its payment.failed is unchanged (v1)', async () => {
      const res = await t.post('/v1/payments', {
        ...visa,
        payment_method: 'pm_card_chargeDeclined',
        receipt_email: 'ada@example.com',
      });
      assert.equal(res.json.status, 'failed');
      assert.equal(res.json.receipt_email, 'ada@example.com');
      const [event] = (await writtenEvents(t.app.store)).filter((e) => e.subject === res.json.id);
      assert.equal(event.dataschema, 'urn:paystream:event:payment.failed:v1');
      assert.equal('receipt_email' in event.data, false);
    });

    test('the receipt address is part of the Idempotency-Key fingerprint', async () => {
      const key = `rcpt-${dialect}-${Date.now()}`;
      const first = await t.post('/v1/payments', { ...visa, receipt_email: 'ada@example.com' }, key);
      assert.equal(first.status, 200);
      const replay = await t.post('/v1/payments', { ...visa, receipt_email: 'ada@example.com' }, key);
      assert.equal(replay.status, 200);
      assert.equal(replay.json.id, first.json.id);
      const other = await t.post('/v1/payments', { ...visa, receipt_email: 'bob@example.com' }, key);
      assert.equal(other.status, 422);
      assert.equal(other.json.error.code, 'PAYSTREAM_IDEMPOTENCY_MISMATCH');
    });
  });
}
