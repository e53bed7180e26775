import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { errorCatalogue } from '../../src/platform/errors.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';

/** At least 2,000 per dialect: NUL bytes, huge numbers and odd unicode included. */
const requestCount = 2000;

/** A small seeded generator (mulberry32): a failure names its seed and replays exactly. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  return { next, pick };
}

const oddValues: readonly unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  1e308,
  -0,
  2 ** 63,
  '',
  '0',
  'usd',
  'pm_card_visa',
  'pm_card_paystream_networkError',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff lone',
  '\u202eRTL\u202c',
  '👍🏽 e\u0301',
  '\uffff\ufffe',
  1e20,
  2 ** 60,
  -1e-7,
  'é'.repeat(300),
  [],
  [1, 2],
  {},
  { nested: { deep: [1] } },
  { 'k\u0000': 'v' },
  { k: 'v\u0000' },
  { '\ud83d': '\udc4d' },
  'x'.repeat(2000),
];

const fields = [
  'customer_id',
  'amount',
  'currency',
  'payment_method',
  'description',
  'metadata',
  'reason',
  'zzz',
];

for (const dialect of dialects()) {
  describe(`nothing a client sends gets a 5xx (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect, {
        PAYSTREAM_GATEWAY_TIMEOUT_MS: '300',
        PAYSTREAM_RECONCILE_AFTER_MS: '400',
      });
    });
    after(() => t.close());

    test(`${requestCount} random requests, seed 20261124`, async () => {
      const seed = 20261124;
      const r = random(seed);
      const valid = (
        await t.post('/v1/payments', {
          customer_id: 'cus_fuzz',
          amount: 5000,
          currency: 'usd',
          payment_method: 'pm_card_visa',
        })
      ).json.id as string;
      const paths = [
        '/v1/payments',
        `/v1/payments/${valid}/refunds`,
        '/v1/payments/pay_x/refunds',
        '/v1/payments/%00',
      ];
      const odd = [
        '%00',
        'x%00y',
        '%ff',
        '%e2%80%ae',
        '%F0%9F%91%8D',
        '1e20',
        '99999999999999999',
        '-0',
        '253402300800',
        '%20',
        'pay_' + '0'.repeat(26),
        '',
      ];
      const queryNames = [
        'customer_id',
        'status',
        'created[gte]',
        'created[lte]',
        'created[gt]',
        'created[lt]',
        'limit',
        'starting_after',
        'zzz',
      ];
      const getPaths = [
        '/v1/payments?limit=0',
        '/v1/payments?limit=abc',
        '/v1/payments?created[gte]=-5',
        '/v1/payments?starting_after=pay_%27%3B--',
        `/v1/payments/${valid}`,
        '/v1/payments/..%2F..%2Fetc',
        '/v1/refunds/re_',
        '/v1/payments?status=succeeded&status=failed',
      ];
      const contentTypes = [
        'application/json',
        'application/json; charset=latin1',
        'text/plain',
        'application/xml',
        '',
      ];
      for (let i = 0; i < requestCount; i += 1) {
        let res: { statusCode: number; body: string };
        const roll = r.next();
        if (roll < 0.15) {
          res = await t.app.api.inject({
            method: 'GET',
            url: r.pick(getPaths),
            headers: { authorization: `Bearer ${t.secret}` },
          });
        } else if (roll < 0.3) {
          // Odd values in every query parameter and path parameter.
          const query = Array.from(
            { length: 1 + Math.floor(r.next() * 3) },
            () => `${encodeURIComponent(r.pick(queryNames))}=${r.pick(odd)}`,
          ).join('&');
          const url = r.pick([
            `/v1/payments?${query}`,
            `/v1/payments/${r.pick(odd)}`,
            `/v1/payments/${r.pick(odd)}/refunds?${query}`,
            `/v1/refunds/re_${r.pick(odd)}`,
          ]);
          res = await t.app.api.inject({
            method: 'GET',
            url,
            headers: { authorization: `Bearer ${t.secret}` },
          });
        } else {
          const body: Record<string, unknown> = {
            customer_id: 'cus_fuzz',
            amount: 100,
            currency: 'usd',
            payment_method: 'pm_card_visa',
          };
          for (let k = 0; k < 1 + Math.floor(r.next() * 3); k += 1) body[r.pick(fields)] = r.pick(oddValues);
          if (r.next() < 0.1) delete body[r.pick(fields)];
          let payload = JSON.stringify(body);
          if (r.next() < 0.1) payload = payload.slice(0, Math.floor(r.next() * payload.length));
          const headers: Record<string, string> = { authorization: `Bearer ${t.secret}` };
          const type = r.pick(contentTypes);
          if (type) headers['content-type'] = type;
          const key = r.pick(['', ' ', 'k'.repeat(300), `fuzz-${i}`, `fuzz-${i % 7}`, 'ключ']);
          if (r.next() < 0.9) headers['idempotency-key'] = key;
          res = await t.app.api.inject({ method: 'POST', url: r.pick(paths), headers, payload });
        }
        assert.ok(
          res.statusCode < 500,
          `${dialect}, seed ${seed}, request ${i}: ${res.statusCode} ${res.body}`,
        );
        if (res.statusCode >= 400) {
          const error = JSON.parse(res.body).error;
          assert.equal(typeof error?.message, 'string', `${dialect}, request ${i}: ${res.body}`);
          assert.ok(
            error.code in errorCatalogue,
            `${dialect}, seed ${seed}, request ${i}: unknown code ${res.body}`,
          );
        }
      }
    });
  });
}
