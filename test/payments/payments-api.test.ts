import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';
import { writtenEvents } from '../support/events.ts';

const visa = { customer_id: 'cus_alice', amount: 2500, currency: 'usd', payment_method: 'pm_card_visa' };

async function outboxFor(t: TestApp, subject: string) {
  return (await writtenEvents(t.app.store)).filter((e) => e.subject === subject);
}

for (const dialect of dialects()) {
  describe(`payments API (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(() => t.close());

    test('a charge that succeeds returns the payment and writes payment.succeeded to the outbox', async () => {
      const res = await t.post('/v1/payments', {
        ...visa,
        description: 'Blue mug',
        metadata: { order: '42' },
      });
      assert.equal(res.status, 200);
      const p = res.json;
      assert.match(p.id, /^pay_[0-9A-Z]{26}$/);
      assert.equal(p.object, 'payment');
      assert.equal(p.status, 'succeeded');
      assert.equal(p.amount, 2500);
      assert.equal(p.currency, 'usd');
      assert.deepEqual(p.metadata, { order: '42' });
      const events = await outboxFor(t, p.id);
      assert.equal(events.length, 1);
      const [event] = events;
      assert.equal(event.specversion, '1.0');
      assert.equal(event.type, 'payment.succeeded');
      assert.match(event.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(event.partitionkey, `${event.data.merchant_id}/cus_alice`);
      assert.equal(event.dataschema, 'urn:paystream:event:payment.succeeded:v2');
      assert.equal(event.data.amount, 2500);
      assert.equal(event.data.payment_id, p.id);
      assert.match(event.data.gateway_charge_id, /^ch_/);
    });

    test('a decline returns a failed payment with its decline code and writes payment.failed', async () => {
      for (const [token, code] of [
        ['pm_card_chargeDeclined', 'generic_decline'],
        ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
        ['pm_card_chargeDeclinedStolenCard', 'stolen_card'],
      ] as const) {
        const res = await t.post('/v1/payments', { ...visa, payment_method: token });
        assert.equal(res.status, 200);
        assert.equal(res.json.status, 'failed');
        assert.equal(res.json.failure_code, code);
        const events = await outboxFor(t, res.json.id);
        assert.deepEqual(
          events.map((e) => [e.type, e.data.failure_code]),
          [['payment.failed', code]],
        );
      }
    });

    test('amounts keep their currency exponent: zero-decimal and three-decimal currencies', async () => {
      const jpy = await t.post('/v1/payments', { ...visa, amount: 500, currency: 'JPY' });
      assert.equal(jpy.status, 200);
      assert.equal(jpy.json.currency, 'jpy');
      assert.equal(jpy.json.amount, 500);
      const tooBigJpy = await t.post('/v1/payments', { ...visa, amount: 1_000_000_000, currency: 'jpy' });
      assert.equal(tooBigJpy.status, 400);
      assert.equal(tooBigJpy.json.error.param, 'amount');
      const kwd = await t.post('/v1/payments', { ...visa, amount: 1_000_000_000, currency: 'kwd' });
      assert.equal(kwd.status, 200, 'a million dinars is 1e9 fils');
    });

    test('GET one payment, and it is invisible to another merchant', async () => {
      const created = (await t.post('/v1/payments', visa)).json;
      const got = await t.get(`/v1/payments/${created.id}`);
      assert.equal(got.status, 200);
      assert.deepEqual(got.json, created);
      const other = (await t.app.apiKeys.create({ name: 'other merchant' })).secret;
      const hidden = await t.get(`/v1/payments/${created.id}`, other);
      assert.equal(hidden.status, 404);
      assert.equal(hidden.json.error.code, 'PAYSTREAM_NOT_FOUND');
      assert.equal((await t.get('/v1/payments/pay_nope')).status, 404);
    });

    test('list filters by customer and status and pages with starting_after', async () => {
      const customer = `cus_list_${dialect}`;
      const made: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        made.push(
          (await t.post('/v1/payments', { ...visa, customer_id: customer, amount: 100 + i })).json.id,
        );
      }
      await t.post('/v1/payments', {
        ...visa,
        customer_id: customer,
        payment_method: 'pm_card_chargeDeclined',
      });
      const page1 = await t.get(`/v1/payments?customer_id=${customer}&status=succeeded&limit=3`);
      assert.equal(page1.status, 200);
      assert.equal(page1.json.object, 'list');
      assert.equal(page1.json.has_more, true);
      assert.deepEqual(
        page1.json.data.map((p: { id: string }) => p.id),
        made.slice(2).reverse(),
      );
      const last = page1.json.data.at(-1).id;
      const page2 = await t.get(
        `/v1/payments?customer_id=${customer}&status=succeeded&limit=3&starting_after=${last}`,
      );
      assert.equal(page2.json.has_more, false);
      assert.deepEqual(
        page2.json.data.map((p: { id: string }) => p.id),
        made.slice(0, 2).reverse(),
      );
      const failed = await t.get(`/v1/payments?customer_id=${customer}&status=failed`);
      assert.equal(failed.json.data.length, 1);
      const now = Math.floor(Date.now() / 1000);
      const inRange = await t.get(
        `/v1/payments?customer_id=${customer}&created[gte]=${now - 60}&created[lte]=${now + 60}`,
      );
      assert.equal(inRange.json.data.length, 6);
      const future = await t.get(`/v1/payments?customer_id=${customer}&created[gt]=${now + 60}`);
      assert.equal(future.json.data.length, 0);
      const bad = await t.get('/v1/payments?limit=1000');
      assert.equal(bad.status, 400);
      assert.equal(bad.json.error.param, 'limit');
      const unknown = await t.get('/v1/payments?colour=blue');
      assert.equal(unknown.status, 400);
      assert.equal(unknown.json.error.param, 'colour');
    });

    test('partial and full refunds, refund.succeeded events, and no refund past the amount', async () => {
      const p = (await t.post('/v1/payments', { ...visa, amount: 1000 })).json;
      const r1 = await t.post(`/v1/payments/${p.id}/refunds`, {
        amount: 300,
        reason: 'requested_by_customer',
      });
      assert.equal(r1.status, 200);
      assert.match(r1.json.id, /^re_/);
      assert.equal(r1.json.status, 'succeeded');
      assert.equal(r1.json.amount, 300);
      const tooMuch = await t.post(`/v1/payments/${p.id}/refunds`, { amount: 701 });
      assert.equal(tooMuch.status, 400);
      assert.equal(tooMuch.json.error.code, 'PAYSTREAM_REFUND_AMOUNT_TOO_LARGE');
      const rest = await t.post(`/v1/payments/${p.id}/refunds`, {});
      assert.equal(rest.json.amount, 700, 'no amount refunds what is left');
      const after = (await t.get(`/v1/payments/${p.id}`)).json;
      assert.equal(after.amount_refunded, 1000);
      const nothingLeft = await t.post(`/v1/payments/${p.id}/refunds`, {});
      assert.equal(nothingLeft.json.error.code, 'PAYSTREAM_REFUND_AMOUNT_TOO_LARGE');
      const list = await t.get(`/v1/payments/${p.id}/refunds`);
      assert.deepEqual(
        list.json.data.map((r: { amount: number }) => r.amount),
        [700, 300],
      );
      assert.equal((await t.get(`/v1/refunds/${r1.json.id}`)).json.amount, 300);
      const refundEvents = (await writtenEvents(t.app.store)).filter(
        (e) => e.type === 'refund.succeeded' && e.data['payment_id'] === p.id,
      );
      assert.deepEqual(
        refundEvents.map((e) => [e.data.amount, e.data.payment_amount_refunded, e.partitionkey]),
        [
          [300, 300, `${refundEvents[0].data.merchant_id}/cus_alice`],
          [700, 1000, `${refundEvents[0].data.merchant_id}/cus_alice`],
        ],
      );
    });

    test('a failed payment cannot be refunded; an unknown one is 404', async () => {
      const p = (await t.post('/v1/payments', { ...visa, payment_method: 'pm_card_chargeDeclined' })).json;
      const res = await t.post(`/v1/payments/${p.id}/refunds`, {});
      assert.equal(res.status, 409);
      assert.equal(res.json.error.code, 'PAYSTREAM_PAYMENT_NOT_REFUNDABLE');
      const missing = await t.post('/v1/payments/pay_00000000000000000000000000/refunds', {});
      assert.equal(missing.status, 404);
    });

    test('concurrent refunds can never over-refund', async () => {
      const p = (await t.post('/v1/payments', { ...visa, amount: 1000 })).json;
      const results = await Promise.all(
        Array.from({ length: 20 }, () => t.post(`/v1/payments/${p.id}/refunds`, { amount: 300 })),
      );
      const ok = results.filter((r) => r.status === 200);
      const refused = results.filter((r) => r.json.error?.code === 'PAYSTREAM_REFUND_AMOUNT_TOO_LARGE');
      assert.equal(ok.length, 3, '3 x 300 fit in 1000, a fourth does not');
      assert.equal(refused.length, 17);
      const after = (await t.get(`/v1/payments/${p.id}`)).json;
      assert.equal(after.amount_refunded, 900);
    });

    test('health and readiness probes', async () => {
      assert.equal((await t.app.api.inject({ url: '/health' })).statusCode, 200);
      const ready = await t.app.api.inject({ url: '/ready' });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json(), { status: 'ready' });
      const docs = await t.app.api.inject({ url: '/docs/json' });
      assert.equal(docs.statusCode, 200);
      assert.ok(docs.json().paths['/v1/payments']);
    });
  });
}
