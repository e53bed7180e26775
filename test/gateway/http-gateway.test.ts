import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { HttpGateway } from '../../src/gateway/http-gateway.ts';
import { startTestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';

/** A gateway that answers every charge as Stripe does while the same key is in flight there. */
async function inFlightGateway(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(409, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: { code: 'idempotency_key_in_use', message: 'another request with this key is in progress' },
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('a 409 from the gateway is an unknown outcome, not an error', () => {
  let gateway: { server: Server; url: string };
  before(async () => {
    gateway = await inFlightGateway();
  });
  after(() => new Promise((resolve) => gateway.server.close(resolve)));

  test('the adapter reports unknown', async () => {
    const adapter = new HttpGateway({ url: gateway.url, timeoutMs: 2000 });
    try {
      const outcome = await adapter.charge({
        idempotencyKey: 'pay_01M87MAS81E008TFKETBT2MRCT',
        amount: 100n,
        currency: 'usd',
        paymentMethod: 'pm_card_visa',
        description: null,
      });
      assert.equal(outcome.status, 'unknown');
    } finally {
      await adapter.close();
    }
  });

  for (const dialect of dialects()) {
    test(`the API answers 200 processing and leaves the payment to the reconciler (${dialect})`, async () => {
      const t = await startTestApp(dialect, { PAYSTREAM_GATEWAY_URL: gateway.url });
      try {
        const res = await t.post('/v1/payments', {
          customer_id: 'cus_409',
          amount: 900,
          currency: 'usd',
          payment_method: 'pm_card_visa',
        });
        assert.equal(res.status, 200, JSON.stringify(res.json));
        assert.equal(res.json.status, 'processing');
        const retry = await t.get(`/v1/payments/${res.json.id}`);
        assert.equal(retry.json.status, 'processing');
      } finally {
        await t.close();
      }
    });
  }
});
