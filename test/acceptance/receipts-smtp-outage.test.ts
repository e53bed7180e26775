import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Mode,
  messageIdOf,
  metric,
  modeName,
  modes,
  percentile,
  ReceiptsWorld,
  untilReached,
} from './support.ts';

/**
 * Issue 13, acceptance: the SMTP server is down for 30 s under a steady load of payments. The
 * receipts consumer pauses (its `smtp` breaker opens, it stops trying), its lag grows and shows on
 * the worker's /metrics, the payments keep succeeding at their usual latency, and once the server
 * is back the consumer drains: every succeeded payment has exactly one receipt row and one message
 * at the server, no decline has one, nothing is dead-lettered.
 */

const outageMs = 30_000;
const healthyMs = 6_000;
const afterMs = 4_000;
/** Payments per second through the API, spread evenly. */
const rate = 25;

interface Sent {
  i: number;
  id: string;
  status: string;
  ms: number;
  phase: 'healthy' | 'down' | 'after';
}

async function smtpOutage(t: TestContext, mode: Mode): Promise<void> {
  const world = await ReceiptsWorld.create(t, mode);
  const worker = await world.startWorker();
  let phase: Sent['phase'] = 'healthy';
  const sent: Sent[] = [];

  // The load: `rate` payments a second, each on its own (an answer never holds up the next), one
  // in five declined.
  let loading = true;
  const inFlight = new Set<Promise<void>>();
  const load = (async () => {
    const startedAt = performance.now();
    for (let i = 0; loading; i += 1) {
      const wait = startedAt + (i * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
      const p = (async () => {
        const at = phase;
        const answer = await world.pay({
          customer_id: `cus_out_${i % 30}`,
          amount: 500 + i,
          currency: 'usd',
          payment_method: i % 5 === 4 ? 'pm_card_chargeDeclined' : 'pm_card_visa',
          receipt_email: `o${i}@example.com`,
        });
        assert.equal(answer.status, 200, JSON.stringify(answer.json));
        sent.push({ i, id: answer.json.id, status: answer.json.status, ms: answer.ms, phase: at });
      })();
      inFlight.add(p);
      p.finally(() => inFlight.delete(p)).catch(() => undefined);
    }
  })();
  load.catch(() => undefined);

  // Healthy: receipts go out as payments come in.
  await sleep(healthyMs);
  const healthyReceipts = await world.receiptCount();
  assert.ok(healthyReceipts > 0, 'receipts flow before the outage');

  // Down for 30 s: watch the worker's metrics and the receipts table.
  await world.smtp.down();
  phase = 'down';
  const downAt = Date.now();
  const samples: Array<{ ms: number; breaker: number; lag: number; receipts: number }> = [];
  while (Date.now() - downAt < outageMs) {
    await sleep(500);
    samples.push({
      ms: Date.now() - downAt,
      breaker: (await metric(worker.metricsUrl, 'paystream_breaker_state', 'provider="smtp"')) ?? -1,
      lag: (await metric(worker.metricsUrl, 'paystream_consumer_lag_events', 'consumer="receipts"')) ?? -1,
      receipts: await world.receiptCount(),
    });
  }
  await world.smtp.up();
  phase = 'after';
  const upAt = Date.now();
  await sleep(afterMs);
  loading = false;
  await load;
  await Promise.all([...inFlight]);

  // The drain.
  const succeeded = sent.filter((s) => s.status === 'succeeded');
  const declined = sent.filter((s) => s.status === 'failed');
  // The breaker probes at most 10 s apart: a longer stall means the consumer is stuck.
  await untilReached(
    'the receipts consumer drains after the outage',
    () => world.receiptCount(),
    succeeded.length,
    {
      stallMs: 30_000,
      timeoutMs: 120_000,
    },
  );
  const drainedMs = Date.now() - upAt;
  await sleep(1000);
  const lagAfter = await metric(worker.metricsUrl, 'paystream_consumer_lag_events', 'consumer="receipts"');

  const latency = (p: Sent['phase']) => sent.filter((s) => s.phase === p).map((s) => s.ms);
  const [healthyP99, downP99] = [percentile(latency('healthy'), 99), percentile(latency('down'), 99)];
  const [healthyP50, downP50] = [percentile(latency('healthy'), 50), percentile(latency('down'), 50)];
  const open = samples.filter((s) => s.breaker === 1);
  const maxLag = Math.max(...samples.map((s) => s.lag));
  const receiptsDown = samples.map((s) => s.receipts);
  t.diagnostic(
    `${modeName(mode)}: ${sent.length} payments at ${rate}/s (${succeeded.length} succeeded, ${declined.length} declined); ` +
      `payment latency healthy p50 ${healthyP50.toFixed(1)} / p99 ${healthyP99.toFixed(1)} ms, ` +
      `SMTP down p50 ${downP50.toFixed(1)} / p99 ${downP99.toFixed(1)} ms; ` +
      `breaker open in ${open.length} of ${samples.length} samples (first at ${open[0]?.ms ?? '-'} ms), ` +
      `lag up to ${maxLag} events; receipts during the outage ${receiptsDown[0]} -> ${receiptsDown.at(-1)}; ` +
      `drained ${drainedMs} ms after the server came back; lag after ${lagAfter}`,
  );

  // The consumer paused: the breaker opened, lag grew and showed, it did not spin.
  assert.ok(open.length > 0, 'paystream_breaker_state{provider="smtp"} was 1 during the outage');
  assert.ok(
    open[0]!.ms < 10_000,
    `the breaker opened within 10 s of the outage (first at ${open[0]!.ms} ms)`,
  );
  const lagWhileOpen = samples.filter((s) => s.ms >= open[0]!.ms).map((s) => s.lag);
  assert.ok(
    lagWhileOpen.every((lag) => lag > 0),
    `paystream_consumer_lag_events{consumer="receipts"} > 0 throughout the outage (${lagWhileOpen.join(' ')})`,
  );
  assert.ok(lagWhileOpen.at(-1)! > lagWhileOpen[0]!, 'the lag grew while the server was down');
  assert.ok(maxLag >= rate * 10, `the lag reached the payments of 10 s at least (${maxLag})`);
  // Paused: from the first open, the breaker is open or probing (never closed) and nothing is sent.
  const afterOpen = samples.filter((s) => s.ms >= open[0]!.ms);
  assert.ok(
    afterOpen.every((s) => s.breaker === 1 || s.breaker === 0.5),
    `the breaker stayed open or half-open while the server was down (${afterOpen.map((s) => s.breaker).join(' ')})`,
  );
  assert.equal(
    afterOpen.at(-1)!.receipts,
    afterOpen[0]!.receipts,
    'no receipt recorded while the server was down',
  );
  assert.equal(lagAfter, 0, 'no lag once drained');

  // The payments never noticed. (A payment that waited on the SMTP server would take its 5 s
  // connection timeout or fail; 500 ms is a floor for the noise of a busy test machine.)
  assert.ok(latency('down').length >= (rate * outageMs) / 1000 / 2, 'payments kept coming during the outage');
  assert.ok(
    downP99 <= Math.max(3 * healthyP99, 500),
    `payment p99 during the outage ${downP99.toFixed(1)} ms vs ${healthyP99.toFixed(1)} ms healthy`,
  );
  for (const s of sent) assert.equal(s.status, s.i % 5 === 4 ? 'failed' : 'succeeded');

  // Drained: one receipt row and one message per succeeded payment, nothing for a decline.
  const rows = await world.receipts();
  const byPayment = new Map<string, number>();
  for (const row of rows) byPayment.set(row['payment_id'], (byPayment.get(row['payment_id']) ?? 0) + 1);
  assert.equal(rows.length, succeeded.length, 'receipt rows == succeeded payments');
  for (const s of succeeded) assert.equal(byPayment.get(s.id), 1, `one receipt row for ${s.id}`);
  for (const s of declined) assert.equal(byPayment.get(s.id), undefined, `no receipt for declined ${s.id}`);
  const counts = world.smtp.countsByMessageId();
  for (const row of rows) {
    assert.equal(row['message_id'], messageIdOf(row['event_id']));
    assert.equal(counts.get(row['message_id']), 1, `${row['message_id']} reached the server once`);
  }
  assert.equal(world.smtp.messages.length, succeeded.length, 'no other message at the server');
  for (const s of declined) assert.deepEqual(world.smtp.messagesTo(`o${s.i}@example.com`), []);
  assert.deepEqual(await world.deadLetters(), [], 'nothing dead-lettered for an outage');
}

for (const mode of modes()) {
  describe(`receipts: the SMTP server down for 30 s (${modeName(mode)})`, () => {
    test(
      'the consumer pauses, lag grows and shows, payments keep their latency, then it drains: one receipt each',
      { timeout: 300_000 },
      (t) => smtpOutage(t, mode),
    );
  });
}
