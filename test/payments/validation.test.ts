import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';

const good = { customer_id: 'cus_v', amount: 1000, currency: 'usd', payment_method: 'pm_card_visa' };

/** Everything a client can send wrong: each gets its 4xx and code, and writes nothing at all. */
const badBodies: Array<[string, unknown, string, string | undefined]> = [
  ['negative amount', { ...good, amount: -100 }, 'PAYSTREAM_VALIDATION', 'amount'],
  ['zero amount', { ...good, amount: 0 }, 'PAYSTREAM_VALIDATION', 'amount'],
  ['fractional amount', { ...good, amount: 10.5 }, 'PAYSTREAM_VALIDATION', 'amount'],
  ['huge amount', { ...good, amount: 1e30 }, 'PAYSTREAM_VALIDATION', 'amount'],
  ['amount of 2^53', { ...good, amount: 2 ** 53 }, 'PAYSTREAM_VALIDATION', 'amount'],
  ['amount over the currency limit', { ...good, amount: 100_000_000_000 }, 'PAYSTREAM_VALIDATION', 'amount'],
  ['amount as a string', { ...good, amount: '1000' }, 'PAYSTREAM_VALIDATION', 'amount'],
  ['amount null', { ...good, amount: null }, 'PAYSTREAM_VALIDATION', 'amount'],
  ['unknown currency', { ...good, currency: 'xyz' }, 'PAYSTREAM_VALIDATION', 'currency'],
  ['currency not 3 letters', { ...good, currency: 'dollars' }, 'PAYSTREAM_VALIDATION', 'currency'],
  ['currency as a number', { ...good, currency: 840 }, 'PAYSTREAM_VALIDATION', 'currency'],
  [
    'missing amount',
    { customer_id: 'c', currency: 'usd', payment_method: 'pm_card_visa' },
    'PAYSTREAM_VALIDATION',
    'amount',
  ],
  [
    'missing customer',
    { amount: 1, currency: 'usd', payment_method: 'pm_card_visa' },
    'PAYSTREAM_VALIDATION',
    'customer_id',
  ],
  [
    'missing payment method',
    { ...good, payment_method: undefined },
    'PAYSTREAM_VALIDATION',
    'payment_method',
  ],
  [
    'payment method not a token',
    { ...good, payment_method: '4242424242424242' },
    'PAYSTREAM_VALIDATION',
    'payment_method',
  ],
  ['empty customer id', { ...good, customer_id: '' }, 'PAYSTREAM_VALIDATION', 'customer_id'],
  ['customer id as an object', { ...good, customer_id: { id: 1 } }, 'PAYSTREAM_VALIDATION', 'customer_id'],
  ['unknown field', { ...good, colour: 'red' }, 'PAYSTREAM_VALIDATION', 'colour'],
  ['metadata value not a string', { ...good, metadata: { n: 1 } }, 'PAYSTREAM_VALIDATION', 'metadata[n]'],
  ['description too long', { ...good, description: 'x'.repeat(1001) }, 'PAYSTREAM_VALIDATION', 'description'],
  ['body is an array', [good], 'PAYSTREAM_VALIDATION', undefined],
  ['body is a string', 'pay me', 'PAYSTREAM_VALIDATION', undefined],
  ['body is null', null, 'PAYSTREAM_VALIDATION', undefined],
];

for (const dialect of dialects()) {
  describe(`invalid input gets a 4xx and changes nothing (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect, { PAYSTREAM_BODY_LIMIT_BYTES: '4096' });
    });
    after(() => t.close());

    const nothingWritten = async () =>
      assert.deepEqual(await t.counts(), { payments: 0, refunds: 0, events: 0, idempotency: 0, charges: 0 });

    for (const [name, body, code, param] of badBodies) {
      test(name, async () => {
        const res = await t.post('/v1/payments', body);
        assert.equal(res.status, 400, JSON.stringify(res.json));
        assert.equal(res.json.error.code, code);
        assert.equal(res.json.error.param, param);
        assert.equal(typeof res.json.error.message, 'string');
        await nothingWritten();
      });
    }

    const raw = (payload: string, headers: Record<string, string> = {}) =>
      t.app.api.inject({
        method: 'POST',
        url: '/v1/payments',
        headers: {
          authorization: `Bearer ${t.secret}`,
          'idempotency-key': `raw-${Math.random()}`,
          'content-type': 'application/json',
          ...headers,
        },
        payload,
      });

    test('malformed JSON', async () => {
      for (const payload of ['{"amount": 10,', '{amount: 10}', '{"a":1}}', '\u0000']) {
        const res = await raw(payload);
        assert.equal(res.statusCode, 400, payload);
        assert.equal(res.json().error.code, 'PAYSTREAM_INVALID_JSON', payload);
      }
      await nothingWritten();
    });

    test('prototype pollution attempts are refused', async () => {
      const res = await raw('{"__proto__": {"admin": true}, "amount": 1}');
      assert.equal(res.statusCode, 400);
      await nothingWritten();
    });

    test('oversized body', async () => {
      const res = await raw(JSON.stringify({ ...good, description: 'x'.repeat(5000) }));
      assert.equal(res.statusCode, 413);
      assert.equal(res.json().error.code, 'PAYSTREAM_BODY_TOO_LARGE');
      await nothingWritten();
    });

    test('a body that is not JSON', async () => {
      const res = await raw('amount=10', { 'content-type': 'application/x-www-form-urlencoded' });
      assert.equal(res.statusCode, 415);
      assert.equal(res.json().error.code, 'PAYSTREAM_UNSUPPORTED_MEDIA_TYPE');
      await nothingWritten();
    });

    test('missing, malformed, unknown and revoked keys are 401', async () => {
      const noAuth = await t.app.api.inject({ method: 'POST', url: '/v1/payments', payload: good });
      assert.equal(noAuth.statusCode, 401);
      assert.equal(noAuth.json().error.code, 'PAYSTREAM_UNAUTHORIZED');
      for (const secret of ['nope', 'sk_test_short', `sk_test_${'A'.repeat(32)}`]) {
        const res = await t.post('/v1/payments', good, undefined, secret);
        assert.equal(res.status, 401, secret);
      }
      const { key, secret } = await t.app.apiKeys.create({ name: 'to revoke' });
      assert.equal((await t.get('/v1/payments', secret)).status, 200);
      assert.equal(await t.app.apiKeys.revoke(key.id), true);
      const revoked = await t.post('/v1/payments', good, undefined, secret);
      assert.equal(revoked.status, 401);
      assert.equal((await t.get('/v1/payments', secret)).status, 401);
      await nothingWritten();
    });

    test('bad refund requests', async () => {
      const cases: Array<[unknown, string]> = [
        [{ amount: -1 }, 'amount'],
        [{ amount: 1.5 }, 'amount'],
        [{ reason: 'because' }, 'reason'],
        [{ extra: true }, 'extra'],
      ];
      for (const [body, param] of cases) {
        const res = await t.post('/v1/payments/pay_00000000000000000000000000/refunds', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.json.error.param, param);
      }
      await nothingWritten();
    });

    test('unknown routes are 404 with the catalogue code', async () => {
      const res = await t.app.api.inject({ url: '/v2/whatever' });
      assert.equal(res.statusCode, 404);
      assert.equal(res.json().error.code, 'PAYSTREAM_NOT_FOUND');
    });
  });
}
