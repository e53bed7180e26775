import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ErrorCode, errorCatalogue } from '../../src/platform/errors.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';
import { oddParams, payload, paymentBody, query, random, refundBody } from './no-5xx-inputs.ts';

/** At least 2,000 per dialect: NUL bytes, huge numbers and odd unicode included. */
const requestCount = 2000;
const seed = 20261125;

/**
 * Floors on what the run reached, so the generator cannot drift into a run where everything is
 * refused at the first check (which would prove nothing about the store).
 */
const paymentsCreatedMin = 300;
const refundsCreatedMin = 40;
const codesExpected: readonly ErrorCode[] = [
  'PAYSTREAM_VALIDATION',
  'PAYSTREAM_INVALID_JSON',
  'PAYSTREAM_BAD_REQUEST',
  'PAYSTREAM_UNSUPPORTED_MEDIA_TYPE',
  'PAYSTREAM_NOT_FOUND',
  'PAYSTREAM_URI_TOO_LONG',
  'PAYSTREAM_IDEMPOTENCY_KEY_REQUIRED',
  'PAYSTREAM_IDEMPOTENCY_KEY_INVALID',
  'PAYSTREAM_IDEMPOTENCY_MISMATCH',
  'PAYSTREAM_PAYMENT_NOT_REFUNDABLE',
];

const contentTypes = [
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/xml',
  'application/x-www-form-urlencoded',
  '',
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

    test(`${requestCount} random requests, seed ${seed}`, async (context) => {
      const r = random(seed);
      const payments: string[] = [];
      const refunds: string[] = [];
      const codes = new Set<string>();
      const auth = { authorization: `Bearer ${t.secret}` };
      const paymentId = () => (r.chance(0.7) && payments.length ? r.pick(payments) : r.pick(oddParams));
      const refundId = () => (r.chance(0.7) && refunds.length ? r.pick(refunds) : `re_${r.pick(oddParams)}`);

      for (let i = 0; i < requestCount; i += 1) {
        const where = `${dialect}, seed ${seed}, request ${i}`;
        let method = 'GET';
        let url: string;
        let sent: Record<string, unknown> | undefined;
        let body: string | Buffer | undefined;
        const headers: Record<string, string> = { ...auth };
        if (r.chance(0.3)) {
          url = r.pick([
            () => `/v1/payments?${query(r, payments)}`,
            () => `/v1/payments/${paymentId()}`,
            () => `/v1/payments/${paymentId()}/refunds?${query(r, refunds)}`,
            () => `/v1/refunds/${refundId()}`,
            () => `/v1/events?${query(r, [])}`,
            () => `/v1/events/${r.pick(oddParams)}`,
          ])();
          if (r.chance(0.02)) method = r.pick(['PUT', 'DELETE', 'PATCH']);
        } else {
          method = 'POST';
          const refund = r.chance(0.25);
          url = refund ? `/v1/payments/${paymentId()}/refunds` : '/v1/payments';
          sent = refund ? refundBody(r) : paymentBody(r);
          body = payload(r, sent);
          const type = r.chance(0.9) ? 'application/json' : r.pick(contentTypes);
          if (type) headers['content-type'] = type;
          const key = r.next();
          if (key < 0.85) headers['idempotency-key'] = `fuzz-${seed}-${i}`;
          else if (key < 0.93) headers['idempotency-key'] = `reuse-${r.int(5)}`;
          else if (key < 0.97) headers['idempotency-key'] = r.pick(['', ' ', 'k'.repeat(300), 'ключ', 'a b']);
        }
        const res = await t.app.api.inject({
          method: method as 'GET',
          url,
          headers,
          ...(body === undefined ? {} : { payload: body }),
        });
        const request = `${method} ${url.slice(0, 200)} ${String(body ?? '').slice(0, 300)}`;
        assert.ok(res.statusCode < 500, `${where}: ${request} -> ${res.statusCode} ${res.body}`);
        if (res.statusCode >= 400) {
          const error = JSON.parse(res.body).error as { code: ErrorCode; message: string };
          assert.equal(typeof error?.message, 'string', `${where}: ${request} -> ${res.body}`);
          assert.ok(error.code in errorCatalogue, `${where}: unknown code ${res.body}`);
          assert.equal(errorCatalogue[error.code].status, res.statusCode, `${where}: ${res.body}`);
          codes.add(error.code);
          continue;
        }
        if (method !== 'POST' || sent === undefined || res.statusCode !== 200) continue;
        // Whatever was accepted reads back exactly as it was sent: nothing silently rewritten.
        const created = res.json() as { id: string; object: string };
        const read = await t.get(
          created.object === 'refund' ? `/v1/refunds/${created.id}` : `/v1/payments/${created.id}`,
        );
        assert.equal(read.status, 200, `${where}: ${JSON.stringify(read.json)}`);
        assert.deepEqual(read.json.metadata, sent['metadata'] ?? {}, `${where}: ${request}`);
        if (created.object === 'refund') refunds.push(created.id);
        else {
          assert.equal(read.json.description, sent['description'] ?? null, `${where}: ${request}`);
          payments.push(created.id);
        }
      }
      const seen = `${payments.length} payments, ${refunds.length} refunds; codes ${[...codes].join(' ')}`;
      context.diagnostic(seen);
      assert.ok(payments.length >= paymentsCreatedMin, seen);
      assert.ok(refunds.length >= refundsCreatedMin, seen);
      assert.deepEqual(
        codesExpected.filter((code) => !codes.has(code)),
        [],
        seen,
      );
    });
  });
}
