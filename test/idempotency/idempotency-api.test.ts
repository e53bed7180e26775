import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { purgeIdempotencyRecords } from '../../src/idempotency/idempotency.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';

const body = { customer_id: 'cus_idem', amount: 1234, currency: 'eur', payment_method: 'pm_card_visa' };

for (const dialect of dialects()) {
  describe(`Idempotency-Key semantics (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect, {
        PAYSTREAM_GATEWAY_TIMEOUT_MS: '300',
        PAYSTREAM_RECONCILE_AFTER_MS: '400',
      });
    });
    after(() => t.close());

    test('50 concurrent POSTs with one key and one body: one charge, one payment, one event', async (ctx) => {
      const before = await t.counts();
      const key = `concurrent-${dialect}`;
      const responses = await Promise.all(
        Array.from({ length: 50 }, () => t.post('/v1/payments', body, key)),
      );
      const ok = responses.filter((r) => r.status === 200);
      const inFlight = responses.filter((r) => r.status === 409);
      assert.equal(ok.length + inFlight.length, 50, 'every answer is the payment or a 409');
      assert.ok(ok.length >= 1);
      for (const r of inFlight) assert.equal(r.json.error.code, 'PAYSTREAM_IDEMPOTENCY_IN_FLIGHT');
      const ids = new Set(ok.map((r) => r.json.id));
      assert.equal(ids.size, 1, 'every 200 is the same payment');
      const after = await t.counts();
      assert.equal(after.payments - before.payments, 1);
      assert.equal(after.events - before.events, 1);
      assert.equal(after.charges - before.charges, 1);
      assert.equal(after.idempotency - before.idempotency, 1);
      // Once finished, the same key replays the stored response byte for byte.
      const replay = await t.post('/v1/payments', body, key);
      assert.equal(replay.status, 200);
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      assert.deepEqual(replay.json, ok[0]!.json);
      ctx.diagnostic(`${ok.length} x 200, ${inFlight.length} x 409`);
    });

    test('the same key with a different body is 422 and changes nothing', async () => {
      const key = `mismatch-${dialect}`;
      const first = await t.post('/v1/payments', body, key);
      assert.equal(first.status, 200);
      const before = await t.counts();
      const other = await t.post('/v1/payments', { ...body, amount: 9999 }, key);
      assert.equal(other.status, 422);
      assert.equal(other.json.error.code, 'PAYSTREAM_IDEMPOTENCY_MISMATCH');
      const refundWithSameKey = await t.post(`/v1/payments/${first.json.id}/refunds`, {}, key);
      assert.equal(refundWithSameKey.status, 422, 'another path is another request');
      assert.deepEqual(await t.counts(), before);
    });

    test('key order in the body does not make a different request', async () => {
      const key = `order-${dialect}`;
      const a = await t.post('/v1/payments', { ...body, metadata: { a: '1', b: '2' } }, key);
      const b = await t.post(
        '/v1/payments',
        {
          metadata: { b: '2', a: '1' },
          payment_method: 'pm_card_visa',
          currency: 'eur',
          amount: 1234,
          customer_id: 'cus_idem',
        },
        key,
      );
      assert.equal(b.status, 200);
      assert.equal(b.json.id, a.json.id);
    });

    test('keys are scoped per merchant and mode: a rotated API key still replays', async () => {
      const key = `scoped-${dialect}`;
      const mine = await t.post('/v1/payments', body, key);
      const merchantId = (await t.app.apiKeys.list()).find((k) => k.name === 'test')!.merchantId;
      // Another key of the SAME merchant (a rotation): the same key is the same request.
      const rotated = (await t.app.apiKeys.create({ merchantId, name: 'rotated' })).secret;
      const again = await t.post('/v1/payments', body, key, rotated);
      assert.equal(again.status, 200);
      assert.equal(again.json.id, mine.json.id);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      const different = await t.post('/v1/payments', { ...body, amount: 999 }, key, rotated);
      assert.equal(different.status, 422);
      // Another merchant, or the same merchant's live key: not the same scope.
      const otherMerchant = (await t.app.apiKeys.create({ name: 'another merchant' })).secret;
      const theirs = await t.post('/v1/payments', body, key, otherMerchant);
      assert.equal(theirs.status, 200);
      assert.notEqual(theirs.json.id, mine.json.id);
      const live = (await t.app.apiKeys.create({ merchantId, livemode: true, name: 'live' })).secret;
      const liveAnswer = await t.post('/v1/payments', body, key, live);
      assert.notEqual(liveAnswer.json.id, mine.json.id);
      assert.notEqual(liveAnswer.headers['idempotent-replayed'], 'true');
    });

    test('a declined payment is replayed too, never charged again', async () => {
      const key = `declined-${dialect}`;
      const declined = { ...body, payment_method: 'pm_card_chargeDeclinedInsufficientFunds' };
      const first = await t.post('/v1/payments', declined, key);
      assert.equal(first.json.status, 'failed');
      const before = await t.counts();
      const again = await t.post('/v1/payments', declined, key);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.json.id, first.json.id);
      assert.deepEqual(await t.counts(), before);
    });

    test('refunds are idempotent as well', async () => {
      const p = (await t.post('/v1/payments', { ...body, amount: 500 })).json;
      const key = `refund-${dialect}`;
      const results = await Promise.all(
        Array.from({ length: 10 }, () => t.post(`/v1/payments/${p.id}/refunds`, { amount: 200 }, key)),
      );
      const ids = new Set(results.filter((r) => r.status === 200).map((r) => r.json.id));
      assert.equal(ids.size, 1);
      assert.ok(results.every((r) => r.status === 200 || r.status === 409));
      assert.equal((await t.get(`/v1/payments/${p.id}`)).json.amount_refunded, 200);
    });

    test('completed records are purged after the retention; in-flight ones are kept', async () => {
      const key = `purge-${dialect}`;
      await t.post('/v1/payments', body, key);
      // A request whose outcome is not known yet: its key must outlive any purge.
      const stuck = await t.post('/v1/payments', { ...body, payment_method: 'pm_card_paystream_timeout' });
      assert.equal(stuck.json.status, 'processing');
      const now = Date.now();
      assert.equal(
        await purgeIdempotencyRecords(t.app.store, now - 24 * 3_600_000),
        0,
        'nothing is 24 h old',
      );
      const purged = await purgeIdempotencyRecords(t.app.store, now + 1000);
      assert.ok(purged >= 1);
      const left = await t.app.store.db
        .selectFrom('idempotency_records')
        .select(['key', 'state', 'resource_id'])
        .where((eb) => eb.or([eb('key', '=', key), eb('resource_id', '=', stuck.json.id)]))
        .execute();
      assert.deepEqual(
        left.map((r) => [r.resource_id, r.state]),
        [[stuck.json.id, 'in_flight']],
        'the completed record went, the in-flight one stayed',
      );
    });

    test('a POST without an Idempotency-Key, or with a bad one, is refused', async () => {
      const before = await t.counts();
      const res = await t.app.api.inject({
        method: 'POST',
        url: '/v1/payments',
        headers: { authorization: `Bearer ${t.secret}`, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().error.code, 'PAYSTREAM_IDEMPOTENCY_KEY_REQUIRED');
      const long = await t.post('/v1/payments', body, 'k'.repeat(256));
      assert.equal(long.json.error.code, 'PAYSTREAM_IDEMPOTENCY_KEY_INVALID');
      assert.deepEqual(await t.counts(), before);
    });
  });
}
