import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { errorCatalogue } from '../../src/platform/errors.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';

/** Sends raw bytes to the API (no client library: most of these are requests no client would send). */
async function raw(t: TestApp, request: string): Promise<{ status: number; body: string; head: string }> {
  const port = Number(new URL(t.app.url).port);
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => {
      data += chunk;
    });
    socket.setTimeout(5000, () =>
      socket.destroy(new Error(`no answer to ${JSON.stringify(request.slice(0, 60))}`)),
    );
    socket.on('error', reject);
    socket.on('close', () => {
      // An interim answer (100 Continue) comes before the final one.
      const final = data.replace(/^HTTP\/1\.1 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n/, '');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(final)?.[1] ?? 0);
      const body = final.slice(final.indexOf('\r\n\r\n') + 4);
      resolve({ status, body, head: data.slice(0, data.indexOf('\r\n\r\n') + 2) });
    });
  });
}

function assertPaystreamError(res: { status: number; body: string }, status: number, code: string): void {
  assert.equal(res.status, status, res.body);
  const json = JSON.parse(res.body) as { error: { code: string; message: string } };
  assert.equal(json.error.code, code, res.body);
  assert.equal(typeof json.error.message, 'string');
  assert.equal(errorCatalogue[code as keyof typeof errorCatalogue].status, status);
}

describe('errors raised before routing have paystream’s shape', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp('sqlite');
  });
  after(() => t.close());
  const auth = () => `Authorization: Bearer ${t.secret}\r\n`;

  test('a malformed percent-encoding in the path: 400 PAYSTREAM_BAD_REQUEST', async () => {
    const res = await raw(
      t,
      `GET /v1/refunds/re_%ff HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`,
    );
    assertPaystreamError(res, 400, 'PAYSTREAM_BAD_REQUEST');
  });

  test('an over-long path parameter: 414 PAYSTREAM_URI_TOO_LONG', async () => {
    const res = await raw(
      t,
      `GET /v1/payments/pay_${'A'.repeat(500)} HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`,
    );
    assertPaystreamError(res, 414, 'PAYSTREAM_URI_TOO_LONG');
  });

  test('a malformed header: 400 PAYSTREAM_BAD_REQUEST', async () => {
    const res = await raw(t, `GET /health HTTP/1.1\r\nHost: x\r\nX-Bad\u0001: y\r\n\r\n`);
    assertPaystreamError(res, 400, 'PAYSTREAM_BAD_REQUEST');
  });

  test('oversized headers: 431 PAYSTREAM_HEADERS_TOO_LARGE', async () => {
    const res = await raw(t, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assertPaystreamError(res, 431, 'PAYSTREAM_HEADERS_TOO_LARGE');
  });

  test('a DEL byte in the Idempotency-Key: the documented PAYSTREAM_IDEMPOTENCY_KEY_INVALID', async () => {
    const body = '{"customer_id":"cus_x","amount":100,"currency":"usd","payment_method":"pm_card_visa"}';
    const res = await raw(
      t,
      `POST /v1/payments HTTP/1.1\r\nHost: x\r\n${auth()}Idempotency-Key: ab\u007fcd\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    assertPaystreamError(res, 400, 'PAYSTREAM_IDEMPOTENCY_KEY_INVALID');
  });

  test('an HTTP/1.1 request without Host: 400 PAYSTREAM_BAD_REQUEST with a body', async () => {
    const res = await raw(t, 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n');
    assertPaystreamError(res, 400, 'PAYSTREAM_BAD_REQUEST');
  });

  test('CONNECT gets an answer: 405 PAYSTREAM_METHOD_NOT_ALLOWED', async () => {
    const res = await raw(t, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    assertPaystreamError(res, 405, 'PAYSTREAM_METHOD_NOT_ALLOWED');
  });

  test('two Host headers: 400 PAYSTREAM_BAD_REQUEST, as HTTP/1.1 requires', async () => {
    const res = await raw(t, 'GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n');
    assertPaystreamError(res, 400, 'PAYSTREAM_BAD_REQUEST');
  });

  test('an expectation other than 100-continue: 417 PAYSTREAM_EXPECTATION_FAILED', async () => {
    const res = await raw(
      t,
      'GET /health HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n',
    );
    assertPaystreamError(res, 417, 'PAYSTREAM_EXPECTATION_FAILED');
  });

  test('Expect: 100-continue still works', async () => {
    const body = '{}';
    const res = await raw(
      t,
      `POST /v1/payments HTTP/1.1\r\nHost: x\r\n${auth()}Idempotency-Key: expect-1\r\nExpect: 100-continue\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    assert.match(res.head, /^HTTP\/1\.1 100 Continue\r\n/);
    assertPaystreamError(res, 400, 'PAYSTREAM_VALIDATION');
  });
});

describe('a request that arrives while the server shuts down', () => {
  test('gets 503 PAYSTREAM_NOT_READY in paystream’s shape, and the connection is closed', async () => {
    const t = await startTestApp('sqlite');
    try {
      const port = Number(new URL(t.app.url).port);
      const socket = net.connect(port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk) => {
        data += chunk;
      });
      const closed = new Promise((resolve) => socket.once('close', resolve));
      // The first request is routed but its body is still on the way, so the connection is busy
      // (not idle) when the server starts to close: a second request can still arrive on it.
      const body = '{}';
      socket.write(
        `POST /v1/payments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.secret}\r\n` +
          `Idempotency-Key: drain-1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const closing = t.app.api.close();
      await new Promise((resolve) => setImmediate(resolve));
      socket.write(`${body}GET /health HTTP/1.1\r\nHost: x\r\n\r\n`);
      await closed;
      await closing;
      const second = data.slice(data.indexOf('HTTP/1.1', 1));
      const res = {
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(second)?.[1] ?? 0),
        body: second.slice(second.indexOf('\r\n\r\n') + 4),
      };
      assertPaystreamError(res, 503, 'PAYSTREAM_NOT_READY');
      assert.match(second, /\r\nconnection: close\r\n/i);
    } finally {
      await t.close();
    }
  });
});

for (const dialect of dialects()) {
  describe(`what PostgreSQL cannot store is a 400, not a 500 (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(() => t.close());
    const pay = { customer_id: 'cus_nul', amount: 100, currency: 'usd', payment_method: 'pm_card_visa' };

    test('a NUL byte in description, metadata keys and values, path and query', async () => {
      for (const body of [
        { ...pay, description: 'a\u0000b' },
        { ...pay, metadata: { order: 'x\u0000' } },
        { ...pay, metadata: { 'or\u0000der': 'x' } },
      ]) {
        const res = await t.post('/v1/payments', body);
        assert.equal(res.status, 400, JSON.stringify(res.json));
        assert.equal(res.json.error.code, 'PAYSTREAM_VALIDATION');
        assert.match(res.json.error.param, /^(description|metadata\[.*\])$/);
      }
      const paid = await t.post('/v1/payments', pay);
      const refund = await t.post(`/v1/payments/${paid.json.id}/refunds`, { metadata: { why: '\u0000' } });
      assert.equal(refund.status, 400);
      for (const url of ['/v1/payments/%00', '/v1/payments?customer_id=%00', '/v1/refunds/re_%00']) {
        const res = await t.get(url);
        assert.equal(res.status, 400, `${url}: ${JSON.stringify(res.json)}`);
        assert.equal(res.json.error.code, 'PAYSTREAM_VALIDATION');
      }
      assert.equal((await t.counts()).payments, 1, 'nothing but the one valid payment was written');
    });

    test('time filters are bounded, so no overflow reaches the database', async () => {
      for (const query of [
        'created[gte]=1e20',
        'created[lte]=99999999999999999',
        'created[gt]=253402300800',
      ]) {
        const res = await t.get(`/v1/payments?${query}`);
        assert.equal(res.status, 400, `${query}: ${JSON.stringify(res.json)}`);
        assert.equal(res.json.error.code, 'PAYSTREAM_VALIDATION');
      }
      assert.equal((await t.get('/v1/payments?created[lte]=253402300799')).status, 200);
    });
  });
}
