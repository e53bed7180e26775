import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { request } from 'undici';
import type { ChargeRequest } from '../../src/gateway/gateway.ts';
import { GatewayRejectedError, HttpGateway } from '../../src/gateway/http-gateway.ts';
import { type SandboxGateway, startSandboxGateway } from '../../src/gateway/sandbox/server.ts';

interface SandboxOptions {
  timeoutMs?: number;
  slowMs?: number;
  holdMs?: number;
  /** Reuse a directory (and so the sandbox's file) of an earlier server. */
  dir?: string;
}

async function sandbox(t: TestContext, options: SandboxOptions = {}) {
  const dir = options.dir ?? fs.mkdtempSync(os.tmpdir() + '/pgw-');
  const server = await startSandboxGateway({
    file: path.join(dir, 'sandbox.db'),
    port: 0,
    slowMs: options.slowMs,
    holdMs: options.holdMs,
  });
  const gateway = new HttpGateway({ url: server.url, timeoutMs: options.timeoutMs ?? 5000 });
  t.after(async () => {
    await gateway.close();
    await server.close();
    if (options.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
  });
  return { server, gateway, dir };
}

function chargeOf(paymentMethod: string, overrides: Partial<ChargeRequest> = {}): ChargeRequest {
  return { idempotencyKey: randomUUID(), amount: 1000n, currency: 'usd', paymentMethod, ...overrides };
}

async function chargeRows(server: SandboxGateway, idempotencyKey?: string): Promise<number> {
  let query = server.store.db.selectFrom('charges').select((eb) => eb.fn.countAll<number>().as('n'));
  if (idempotencyKey !== undefined) query = query.where('idempotency_key', '=', idempotencyKey);
  return Number((await query.executeTakeFirstOrThrow()).n);
}

async function chargedAmountRefunded(server: SandboxGateway, chargeId: string): Promise<number> {
  const row = await server.store.db
    .selectFrom('charges')
    .select('amount_refunded')
    .where('id', '=', chargeId)
    .executeTakeFirstOrThrow();
  return Number(row.amount_refunded);
}

async function succeededCharge(gateway: HttpGateway, amount = 1000n): Promise<string> {
  const outcome = await gateway.charge(chargeOf('pm_card_visa', { amount }));
  assert.equal(outcome.status, 'succeeded');
  return (outcome as { chargeId: string }).chargeId;
}

test('succeeding test cards charge', async (t) => {
  const { gateway } = await sandbox(t);
  for (const pm of [
    'pm_card_visa',
    'pm_card_mastercard',
    'pm_card_amex',
    'pm_card_discover',
    'pm_card_visa_debit',
  ]) {
    const outcome = await gateway.charge(chargeOf(pm));
    assert.equal(outcome.status, 'succeeded', pm);
    assert.match((outcome as { chargeId: string }).chargeId, /^ch_[0-9A-Z]{26}$/);
  }
});

test('declining test cards fail with their decline code and a message', async (t) => {
  const { gateway } = await sandbox(t);
  const declines: Record<string, string> = {
    pm_card_chargeDeclined: 'generic_decline',
    pm_card_chargeDeclinedInsufficientFunds: 'insufficient_funds',
    pm_card_chargeDeclinedStolenCard: 'stolen_card',
    pm_card_chargeDeclinedLostCard: 'lost_card',
    pm_card_chargeDeclinedFraudulent: 'fraudulent',
    pm_card_chargeDeclinedExpiredCard: 'expired_card',
    pm_card_chargeDeclinedIncorrectCvc: 'incorrect_cvc',
    pm_card_chargeDeclinedProcessingError: 'processing_error',
    pm_card_doesNotExist: 'invalid_payment_method',
    pm_card_constructor: 'invalid_payment_method',
  };
  for (const [pm, declineCode] of Object.entries(declines)) {
    const outcome = await gateway.charge(chargeOf(pm));
    assert.equal(outcome.status, 'failed', pm);
    const failed = outcome as { chargeId: string; declineCode: string; message: string };
    assert.equal(failed.declineCode, declineCode, pm);
    assert.ok(failed.message.length > 0, pm);
    assert.match(failed.chargeId, /^ch_/);
  }
});

test('a repeated key replays the first result, even for a decline', async (t) => {
  const { gateway, server } = await sandbox(t);
  const request = chargeOf('pm_card_chargeDeclinedInsufficientFunds');
  const first = await gateway.charge(request);
  assert.deepEqual(await gateway.charge(request), first);
  assert.deepEqual(await gateway.findCharge(request.idempotencyKey), first);
  assert.equal(await chargeRows(server, request.idempotencyKey), 1);
});

test('50 concurrent charges with one key make exactly one charge', async (t) => {
  const { gateway, server } = await sandbox(t);
  const request = chargeOf('pm_card_visa');
  const outcomes = await Promise.all(Array.from({ length: 50 }, () => gateway.charge(request)));
  const ids = new Set(outcomes.map((o) => (o.status === 'succeeded' ? o.chargeId : o.status)));
  assert.equal(ids.size, 1);
  assert.match([...ids][0]!, /^ch_/);
  assert.equal(await chargeRows(server), 1);
});

test('the same key with other parameters is refused with 422 and charges nothing', async (t) => {
  const { gateway, server } = await sandbox(t);
  const request = chargeOf('pm_card_visa');
  await gateway.charge(request);
  await assert.rejects(gateway.charge({ ...request, amount: 1001n }), (error: unknown) => {
    assert.ok(error instanceof GatewayRejectedError);
    assert.equal(error.status, 422);
    assert.equal(error.code, 'idempotency_mismatch');
    return true;
  });
  await assert.rejects(gateway.charge({ ...request, paymentMethod: 'pm_card_amex' }), GatewayRejectedError);
  assert.equal(await chargeRows(server), 1);
});

test('lookups of unknown keys are not_found', async (t) => {
  const { gateway } = await sandbox(t);
  assert.deepEqual(await gateway.findCharge('no-such-key'), { status: 'not_found' });
  assert.deepEqual(await gateway.findRefund('no-such-key'), { status: 'not_found' });
});

test('timeout card: the answer is lost, the charge is recorded and found', async (t) => {
  const { gateway, server } = await sandbox(t, { timeoutMs: 300 });
  const request = chargeOf('pm_card_paystream_timeout');
  const started = Date.now();
  const outcome = await gateway.charge(request);
  assert.equal(outcome.status, 'unknown');
  assert.ok(Date.now() - started < 5000, 'the client timeout, not the hold, ends the wait');

  const found = await gateway.findCharge(request.idempotencyKey);
  assert.equal(found.status, 'succeeded');
  const row = await server.store.db
    .selectFrom('charges')
    .select('id')
    .where('idempotency_key', '=', request.idempotencyKey)
    .executeTakeFirstOrThrow();
  assert.equal((found as { chargeId: string }).chargeId, row.id);
  // A retry with the key replays at once: the hold applies only to the request that charged.
  assert.deepEqual(await gateway.charge(request), found);
  assert.equal(await chargeRows(server), 1);
});

test('networkError card: the connection drops, the charge is recorded and found', async (t) => {
  const { gateway, server } = await sandbox(t);
  const request = chargeOf('pm_card_paystream_networkError');
  const outcome = await gateway.charge(request);
  assert.equal(outcome.status, 'unknown');
  assert.ok((outcome as { reason: string }).reason.length > 0);

  const found = await gateway.findCharge(request.idempotencyKey);
  assert.equal(found.status, 'succeeded');
  assert.deepEqual(await gateway.charge(request), found);
  assert.equal(await chargeRows(server), 1);
});

test('slow card: answered after slowMs, within a longer client timeout', async (t) => {
  const slowMs = 500;
  const { gateway } = await sandbox(t, { timeoutMs: 3000, slowMs });
  const request = chargeOf('pm_card_paystream_slow');
  const started = Date.now();
  const outcome = await gateway.charge(request);
  assert.equal(outcome.status, 'succeeded');
  assert.ok(Date.now() - started >= slowMs - 50, 'the answer was delayed');

  const replayStarted = Date.now();
  assert.deepEqual(await gateway.charge(request), outcome);
  assert.ok(Date.now() - replayStarted < slowMs, 'a replay is immediate');
});

test('slow card with a shorter client timeout is unknown, and charged', async (t) => {
  const { gateway } = await sandbox(t, { timeoutMs: 200, slowMs: 1000 });
  const request = chargeOf('pm_card_paystream_slow');
  assert.equal((await gateway.charge(request)).status, 'unknown');
  assert.equal((await gateway.findCharge(request.idempotencyKey)).status, 'succeeded');
});

test('partial refunds, then an over-refund fails with amount_exceeds_charge', async (t) => {
  const { gateway, server } = await sandbox(t);
  const chargeId = await succeededCharge(gateway, 1000n);
  const refund = (amount: bigint) =>
    gateway.refund({ idempotencyKey: randomUUID(), chargeId, amount, currency: 'usd' });

  assert.equal((await refund(400n)).status, 'succeeded');
  assert.equal((await refund(500n)).status, 'succeeded');
  const over = await refund(200n);
  assert.equal(over.status, 'failed');
  assert.equal((over as { reason: string }).reason, 'amount_exceeds_charge');
  assert.equal((await refund(100n)).status, 'succeeded', 'exactly the remainder is refundable');
  assert.equal((await refund(1n)).status, 'failed');
  assert.equal(await chargedAmountRefunded(server, chargeId), 1000);
});

test('concurrent refunds never exceed the charge', async (t) => {
  const { gateway, server } = await sandbox(t);
  const chargeId = await succeededCharge(gateway, 1000n);
  const outcomes = await Promise.all(
    Array.from({ length: 50 }, () =>
      gateway.refund({ idempotencyKey: randomUUID(), chargeId, amount: 30n, currency: 'usd' }),
    ),
  );
  assert.equal(outcomes.filter((o) => o.status === 'succeeded').length, 33);
  assert.equal(outcomes.filter((o) => o.status === 'failed').length, 17);
  assert.equal(await chargedAmountRefunded(server, chargeId), 990);
});

test('refund idempotency: a repeated key refunds once', async (t) => {
  const { gateway, server } = await sandbox(t);
  const chargeId = await succeededCharge(gateway, 1000n);
  const request = { idempotencyKey: randomUUID(), chargeId, amount: 300n, currency: 'usd' };
  const outcomes = await Promise.all(Array.from({ length: 20 }, () => gateway.refund(request)));
  const first = outcomes[0]!;
  assert.equal(first.status, 'succeeded');
  for (const outcome of outcomes) assert.deepEqual(outcome, first);
  assert.deepEqual(await gateway.findRefund(request.idempotencyKey), first);
  assert.equal(await chargedAmountRefunded(server, chargeId), 300);

  await assert.rejects(gateway.refund({ ...request, amount: 301n }), (error: unknown) => {
    assert.ok(error instanceof GatewayRejectedError);
    assert.equal(error.code, 'idempotency_mismatch');
    return true;
  });
});

test('refunds of an unknown charge are refused, of a declined charge fail', async (t) => {
  const { gateway } = await sandbox(t);
  await assert.rejects(
    gateway.refund({ idempotencyKey: randomUUID(), chargeId: 'ch_nope', amount: 1n, currency: 'usd' }),
    (error: unknown) => error instanceof GatewayRejectedError && error.status === 404,
  );
  const declined = await gateway.charge(chargeOf('pm_card_chargeDeclined'));
  assert.equal(declined.status, 'failed');
  const refund = await gateway.refund({
    idempotencyKey: randomUUID(),
    chargeId: (declined as { chargeId: string }).chargeId,
    amount: 1n,
    currency: 'usd',
  });
  assert.deepEqual(
    { ...refund, refundId: undefined },
    {
      status: 'failed',
      refundId: undefined,
      reason: 'charge_not_succeeded',
    },
  );
});

test('durability: a new server on the same file knows the charges and keys', async (t) => {
  const dir = fs.mkdtempSync(os.tmpdir() + '/pgw-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const request = chargeOf('pm_card_visa');

  const first = await sandbox(t, { dir });
  const charged = await first.gateway.charge(request);
  assert.equal(charged.status, 'succeeded');
  await first.gateway.close();
  await first.server.close();

  const second = await sandbox(t, { dir });
  assert.deepEqual(await second.gateway.findCharge(request.idempotencyKey), charged);
  assert.deepEqual(await second.gateway.charge(request), charged);
  assert.equal(await chargeRows(second.server), 1);
});

test('close does not wait for a held answer', async (t) => {
  const { gateway, server } = await sandbox(t, { timeoutMs: 120_000 });
  const request = chargeOf('pm_card_paystream_timeout');
  const pending = gateway.charge(request);
  while ((await chargeRows(server, request.idempotencyKey)) === 0) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const started = Date.now();
  await server.close();
  assert.ok(Date.now() - started < 2000, `close took ${Date.now() - started} ms`);
  assert.equal((await pending).status, 'unknown');
});

test('the HTTP API refuses requests without a key or with bad parameters', async (t) => {
  const { server } = await sandbox(t);
  const post = async (body: unknown, key?: string) => {
    const response = await request(`${server.url}/v1/charges`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(key === undefined ? {} : { 'idempotency-key': key }),
      },
      body: JSON.stringify(body),
    });
    return { status: response.statusCode, body: (await response.body.json()) as { error: { code: string } } };
  };
  const valid = { amount: 100, currency: 'usd', payment_method: 'pm_card_visa' };

  const missingKey = await post(valid);
  assert.equal(missingKey.status, 400);
  assert.equal(missingKey.body.error.code, 'idempotency_key_required');
  assert.equal((await post({ ...valid, amount: '100' }, randomUUID())).status, 400);
  assert.equal((await post({ ...valid, amount: 0 }, randomUUID())).status, 400);
  assert.equal((await post({ ...valid, amount: 1.5 }, randomUUID())).status, 400);
  assert.equal((await post({ ...valid, currency: 'USD' }, randomUUID())).status, 400);
  assert.equal((await post({ ...valid, extra: 1 }, randomUUID())).status, 400);
  assert.equal(await chargeRows(server), 0);

  const key = randomUUID();
  assert.equal((await post(valid, key)).status, 200);
  const mismatch = await post({ ...valid, amount: 101 }, key);
  assert.equal(mismatch.status, 422);
  assert.equal(mismatch.body.error.code, 'idempotency_mismatch');

  const health = await request(`${server.url}/health`);
  assert.equal(health.statusCode, 200);
  assert.deepEqual(await health.body.json(), { status: 'ok' });
});

test('HttpGateway: refused connections, 5xx, garbage and wrong URLs', async (t) => {
  let answer: { status: number; body: string } = { status: 503, body: '{"error":{"code":"down"}}' };
  const fake = http.createServer((_req, res) => {
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  const gateway = new HttpGateway({ url, timeoutMs: 1000 });
  t.after(async () => {
    await gateway.close();
    await new Promise((resolve) => fake.close(resolve));
  });

  assert.equal((await gateway.charge(chargeOf('pm_card_visa'))).status, 'unknown');
  assert.equal((await gateway.findCharge('k')).status, 'unknown');
  answer = { status: 200, body: 'not json' };
  assert.equal((await gateway.charge(chargeOf('pm_card_visa'))).status, 'unknown');
  answer = { status: 200, body: '{"id":"ch_1","status":"maybe"}' };
  assert.equal(
    (await gateway.refund({ idempotencyKey: 'k', chargeId: 'ch_1', amount: 1n, currency: 'usd' })).status,
    'unknown',
  );
  // A 404 that is not the gateway's own "no such object" (a wrong base URL) must not read as not_found.
  answer = { status: 404, body: '{"error":{"code":"route_not_found","message":"No route"}}' };
  await assert.rejects(gateway.findCharge('k'), GatewayRejectedError);

  const { server } = await sandbox(t);
  const closedUrl = server.url;
  await server.close();
  const refused = new HttpGateway({ url: closedUrl, timeoutMs: 1000 });
  t.after(() => refused.close());
  const outcome = await refused.charge(chargeOf('pm_card_visa'));
  assert.equal(outcome.status, 'unknown');
  assert.match((outcome as { reason: string }).reason, /ECONNREFUSED/);
});
