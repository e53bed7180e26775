import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { freePort, spawnPaystream } from '../support/processes.ts';

test('paystream events tail, in a process of its own, prints a payment made through the API', {
  timeout: 60_000,
}, async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paystream-tail-'));
  const env = {
    ...process.env,
    PAYSTREAM_DATA_DIR: dataDir,
    PAYSTREAM_PORT: String(await freePort()),
    PAYSTREAM_GATEWAY_PORT: String(await freePort()),
    PAYSTREAM_LOG_LEVEL: 'warn',
  };
  const api = spawnPaystream('api', ['start'], env);
  const tail = spawnPaystream('tail', ['events', 'tail', '--type', 'payment.succeeded'], env);
  t.after(async () => {
    await tail.kill();
    await api.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const url = (await api.waitFor('stdout', /API on (http:\/\/[^\s,]+)/, 20_000))[1]!;
  const secret = (await api.waitFor('stdout', /sk_test_[A-Za-z0-9]{32}/, 20_000))[0];
  await tail.waitFor('stderr', /tailing events on the embedded log/, 20_000);
  const res = await fetch(`${url}/v1/payments`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${secret}`,
      'idempotency-key': 'tail-1',
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      customer_id: 'cus_tail',
      amount: 4321,
      currency: 'usd',
      payment_method: 'pm_card_visa',
    }),
  });
  const payment = (await res.json()) as { id: string };
  const line = await tail.waitFor(
    'stdout',
    new RegExp(`payment\\.succeeded\\s+${payment.id}\\s+acct_\\w+/cus_tail\\s+\\{.*"amount":4321`),
    10_000,
  );
  assert.ok(line);
});
