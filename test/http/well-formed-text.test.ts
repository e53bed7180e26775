import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';

const pay = { customer_id: 'cus_text', amount: 100, currency: 'usd', payment_method: 'pm_card_visa' };

for (const dialect of dialects()) {
  describe(`text is stored exactly as sent, or refused (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(() => t.close());

    const send = (payload: string | Buffer, key: string) =>
      t.app.api.inject({
        method: 'POST',
        url: '/v1/payments',
        headers: {
          authorization: `Bearer ${t.secret}`,
          'idempotency-key': key,
          'content-type': 'application/json',
        },
        payload,
      });

    test('a lone UTF-16 surrogate is a 400 naming the parameter, and writes nothing', async () => {
      const before = await t.counts();
      for (const [body, param] of [
        [{ ...pay, description: '\ud800' }, 'description'],
        [{ ...pay, description: 'ok \udfff then' }, 'description'],
        [{ ...pay, metadata: { order: 'x\ud83d' } }, 'metadata[order]'],
        [{ ...pay, metadata: { '\udc4d': 'x' } }, 'metadata[\udc4d]'],
      ] as const) {
        const res = await t.post('/v1/payments', body);
        assert.equal(res.status, 400, JSON.stringify(res.json));
        assert.equal(res.json.error.code, 'PAYSTREAM_VALIDATION');
        assert.equal(res.json.error.param, param);
      }
      assert.deepEqual(await t.counts(), before);
      const paid = await t.post('/v1/payments', pay);
      const refund = await t.post(`/v1/payments/${paid.json.id}/refunds`, { metadata: { why: '\ud800' } });
      assert.equal(refund.status, 400, JSON.stringify(refund.json));
      assert.equal(refund.json.error.param, 'metadata[why]');
      assert.equal((await t.counts()).refunds, before.refunds);
    });

    test('well-formed odd unicode is accepted and reads back unchanged', async () => {
      const description = 'e\u0301 \u202eRTL\u202c \u200f 👍🏽 \uffff\ufffe \ud83d\ude00';
      const metadata = { '👍🏽': '\u202e\u0301', 'k\uffff': '\ud83d\udc4d', ключ: 'e\u0301'.repeat(200) };
      const res = await t.post('/v1/payments', { ...pay, description, metadata });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      const got = await t.get(`/v1/payments/${res.json.id}`);
      assert.equal(got.json.description, description);
      assert.deepEqual(got.json.metadata, metadata);
      const refund = await t.post(`/v1/payments/${res.json.id}/refunds`, { amount: 1, metadata });
      assert.equal(refund.status, 200, JSON.stringify(refund.json));
      assert.deepEqual((await t.get(`/v1/refunds/${refund.json.id}`)).json.metadata, metadata);
    });

    test('a metadata key with a control character, a quote or a backslash is a 400', async () => {
      for (const key of ['\n', 'a\tb', 'say "hi"', 'back\\slash', '\\']) {
        const res = await t.post('/v1/payments', { ...pay, metadata: { [key]: 'x' } });
        assert.equal(res.status, 400, JSON.stringify(res.json));
        assert.equal(res.json.error.code, 'PAYSTREAM_VALIDATION');
        assert.equal(res.json.error.param, 'metadata');
      }
    });

    test('a metadata key sent with an escape reads back as sent, whatever keys came before', async () => {
      // V8's JSON.parse in Node 24 reads a key ending in an escape ("\u00e9", "\/") as one ending
      // in a backslash once an earlier parse met that key ending in a backslash (nodejs/node#63785).
      const body = (metadata: string) =>
        `{"customer_id":"cus_text","amount":100,"currency":"usd","payment_method":"pm_card_visa","metadata":${metadata}}`;
      await send(body('{"a":"1","\\\\":"2","order\\\\":"3"}'), 'escape-poison');
      const res = await send(body('{"a":"1","\\u00e9":"2","order\\/":"3"}'), 'escape-victim');
      assert.equal(res.statusCode, 200, res.body);
      const expected = { a: '1', é: '2', 'order/': '3' };
      assert.deepEqual(res.json().metadata, expected);
      assert.deepEqual((await t.get(`/v1/payments/${res.json().id}`)).json.metadata, expected);
    });

    test('a body that is not UTF-8 is a 400 PAYSTREAM_INVALID_JSON, not text with U+FFFD in it', async () => {
      const before = await t.counts();
      for (const bytes of ['\xff', '\xc3', '\xed\xa0\x80', '\xc0\xaf']) {
        const text = `${JSON.stringify({ ...pay, description: 'x' }).slice(0, -2)}${bytes}"}`;
        const res = await send(
          Buffer.from(text, 'latin1'),
          `latin1-${Buffer.from(bytes, 'latin1').toString('hex')}`,
        );
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json().error.code, 'PAYSTREAM_INVALID_JSON');
      }
      assert.deepEqual(await t.counts(), before);
    });

    test('a deeply nested body is a 400, not a stack overflow', async () => {
      // Each within the default 64 KiB body limit.
      for (const payload of [
        '['.repeat(30_000) + ']'.repeat(30_000),
        `{"metadata":${'{"a":'.repeat(10_000)}"\\u0000"${'}'.repeat(10_000)}}`,
        `{"description":${'[{"a":'.repeat(6_000)}1${'}]'.repeat(6_000)}}`,
      ]) {
        const res = await send(payload, `deep-${payload.length}`);
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json().error.code, 'PAYSTREAM_VALIDATION');
      }
    });
  });
}
