import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Mode,
  messageIdOf,
  metric,
  modeName,
  modes,
  type PaymentBody,
  pool,
  ReceiptsWorld,
  untilReached,
  type Worker,
} from './support.ts';

/**
 * Issue 13, acceptance: kill -9 of a worker mid-handler, repeatedly, during thousands of events.
 * Payments (with a receipt_email each, one in ten declined) go through the real API while two
 * `paystream worker receipts` processes work; the one that is handling events is killed with
 * SIGKILL again and again and started again at once. In the end: one receipt row per succeeded
 * payment, every expected Message-ID at the SMTP server, a second copy of a message only for events
 * in flight at a kill, nothing for a decline, no dead letter.
 *
 * `npm test` runs 1,000 payments per mode (under a minute each); `npm run soak:receipts-kill`
 * runs the issue's 5,000 (PAYSTREAM_TEST_RECEIPTS_KILL_PAYMENTS).
 */

const paymentsTotal = Number(process.env['PAYSTREAM_TEST_RECEIPTS_KILL_PAYMENTS'] ?? 1000);
const clients = 16;
const customers = 40;
/** The receipts consumer's concurrency: at most this many events are in a worker's hands at once. */
const handlerConcurrency = 16;

const bodyOf = (i: number): PaymentBody => ({
  customer_id: `cus_kill_${i % customers}`,
  amount: 100 + i,
  currency: 'usd',
  payment_method: i % 10 === 9 ? 'pm_card_chargeDeclined' : 'pm_card_visa',
  receipt_email: `p${i}@example.com`,
});

/** The applied-events counter of a worker's receipts consumer (0 before its first event). */
async function applied(worker: Worker): Promise<number> {
  const value = await metric(worker.metricsUrl, 'paystream_consumer_events_total', 'outcome="applied"').catch(
    () => undefined,
  );
  return value ?? 0;
}

async function killWorkersRepeatedly(t: TestContext, mode: Mode): Promise<void> {
  const started = Date.now();
  const world = await ReceiptsWorld.create(t, mode);
  const workers = [await world.startWorker('worker-1'), await world.startWorker('worker-2')];
  const setupMs = Date.now() - started;

  const expectedSucceeded = Array.from({ length: paymentsTotal }, (_, i) => i).filter(
    (i) => bodyOf(i).payment_method === 'pm_card_visa',
  ).length;
  // The payments come at an even pace over a window, so there is work in hand at every kill; the
  // kills are spread over it: the next one as soon as the receipts have moved on again after the
  // last (the victim is busy), a second apart at least, up to the mode's number. Each kill costs a
  // takeover: the embedded group's lease (5 s) or Kafka's session timeout (10 s).
  const long = paymentsTotal >= 5000;
  const windowMs = (mode === 'kafka' ? 40_000 : 30_000) * (long ? 2 : 1);
  const targetKills = (mode === 'kafka' ? 4 : 6) * (long ? 2 : 1);
  const killEvery = Math.max(20, Math.floor(expectedSucceeded / 40));

  // The payments, through the API, while the killer below does its work.
  const answers = new Array<{ id: string; status: string; i: number }>(paymentsTotal);
  let paying = true;
  const payStart = performance.now();
  const payments = pool(
    Array.from({ length: paymentsTotal }, (_, i) => i),
    clients,
    async (i) => {
      const due = payStart + (i * windowMs) / paymentsTotal - performance.now();
      if (due > 0) await sleep(due);
      const answer = await world.pay(bodyOf(i));
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      answers[i] = { id: answer.json.id, status: answer.json.status, i };
    },
  ).finally(() => {
    paying = false;
  });

  const kills: Array<{ atMs: number; receipts: number; victim: string; wasApplying: number }> = [];
  let killing = true;
  const killer = (async () => {
    let lastKillReceipts = 0;
    let lastKillAt = Date.now();
    const seen = new Map<Worker, number>();
    for (const w of workers) seen.set(w, await applied(w));
    let n = 2;
    while (killing && kills.length < targetKills) {
      await sleep(100);
      const receipts = await world.receiptCount();
      if (receipts - lastKillReceipts < killEvery || Date.now() - lastKillAt < 1000) continue;
      if (receipts >= expectedSucceeded - killEvery) break; // leave the tail to drain
      // The victim: the worker whose applied count moved most since the last look (mid-handler).
      let victim: Worker | undefined;
      let moved = 0;
      for (const w of workers) {
        const now = await applied(w);
        const delta = now - (seen.get(w) ?? 0);
        seen.set(w, now);
        if (delta > moved) {
          moved = delta;
          victim = w;
        }
      }
      if (!victim) continue;
      await world.kill(victim.proc);
      kills.push({ atMs: Date.now() - started, receipts, victim: victim.proc.name, wasApplying: moved });
      lastKillReceipts = receipts;
      lastKillAt = Date.now();
      const replacement = await world.startWorker(`worker-${++n}`);
      workers[workers.indexOf(victim)] = replacement;
      seen.delete(victim);
      seen.set(replacement, 0);
    }
  })();

  await payments;
  const paidMs = Date.now() - started;
  try {
    // A stall longer than a few takeovers (5 s lease, 10 s Kafka session) means events were lost.
    await untilReached(
      'receipt rows of the succeeded payments',
      () => world.receiptCount(),
      expectedSucceeded,
      {
        stallMs: 45_000,
        timeoutMs: 240_000,
      },
    );
  } finally {
    killing = false;
    await killer;
  }
  assert.equal(paying, false);
  const drainedMs = Date.now() - started;
  // Anything a late redelivery would still do happens now, or not at all.
  await sleep(1500);

  const succeeded = answers.filter((a) => a.status === 'succeeded');
  const declined = answers.filter((a) => a.status === 'failed');
  assert.equal(succeeded.length, expectedSucceeded, 'the cards behaved as the sandbox documents');
  assert.equal(succeeded.length + declined.length, paymentsTotal);

  // The receipts table: exactly one row per succeeded payment, none for a decline.
  const rows = await world.receipts();
  const rowsByPayment = new Map<string, typeof rows>();
  for (const row of rows)
    rowsByPayment.set(row['payment_id'], [...(rowsByPayment.get(row['payment_id']) ?? []), row]);
  const missing = succeeded.filter((a) => !rowsByPayment.has(a.id));
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} succeeded payments without a receipt row`);
  const doubled = [...rowsByPayment].filter(([, r]) => r.length > 1);
  assert.deepEqual(doubled.slice(0, 5), [], `${doubled.length} payments with more than one receipt row`);
  const declinedWithReceipt = declined.filter((a) => rowsByPayment.has(a.id));
  assert.deepEqual(declinedWithReceipt, [], 'no receipt row for a declined payment');
  assert.equal(rows.length, succeeded.length, 'receipt rows == succeeded payments');
  for (const row of rows) {
    assert.equal(row['status'], 'sent');
    assert.equal(row['message_id'], messageIdOf(row['event_id']));
  }

  // The SMTP server: every expected Message-ID, to the payment's address; copies only from kills.
  const counts = world.smtp.countsByMessageId();
  const expectedIds = new Set(rows.map((r) => String(r['message_id'])));
  const absent = [...expectedIds].filter((id) => !counts.has(id));
  assert.deepEqual(absent.slice(0, 5), [], `${absent.length} receipts never reached the SMTP server`);
  const unexpected = [...counts.keys()].filter((id) => !expectedIds.has(id));
  assert.deepEqual(unexpected.slice(0, 5), [], 'no message the receipts table does not account for');
  assert.equal(counts.size, succeeded.length, 'distinct Message-IDs at the server == succeeded payments');
  const byPayment = new Map(rows.map((r) => [String(r['message_id']), String(r['recipient'])]));
  for (const message of world.smtp.messages) {
    assert.deepEqual(message.to, [byPayment.get(message.messageId)], 'each receipt went to its payment');
    assert.equal(messageIdOf(message.eventId ?? ''), message.messageId, 'X-Paystream-Event-Id matches');
  }
  for (const a of declined) {
    assert.deepEqual(world.smtp.messagesTo(`p${a.i}@example.com`), [], `no email for declined ${a.id}`);
  }
  const duplicates = world.smtp.messages.length - counts.size;
  const duplicatesBound = kills.length * handlerConcurrency;

  // No dead letters: a killed worker's events are redelivered, never given up on.
  const deadLetters = await world.deadLetters();

  const summary =
    `${modeName(mode)}: ${paymentsTotal} payments (${succeeded.length} succeeded, ${declined.length} declined) ` +
    `in ${paidMs - setupMs} ms after ${setupMs} ms setup; all receipts at ${drainedMs} ms; ` +
    `${kills.length} kills -9 (${kills.map((k) => `${k.victim}@${k.atMs}ms/${k.receipts}`).join(', ')}); ` +
    `${world.smtp.messages.length} messages at the SMTP server, ${duplicates} second copies (bound ${duplicatesBound}); ` +
    `${deadLetters.length} dead letters`;
  t.diagnostic(summary);
  const reportDir = process.env['PAYSTREAM_TEST_REPORT_DIR'];
  if (reportDir) {
    writeFileSync(
      path.join(reportDir, `receipts-kill-${mode}-${new Date().toISOString().slice(0, 10)}.md`),
      [
        `# Receipts under kill -9 (${modeName(mode)})`,
        '',
        `Command: \`npm run soak:receipts-kill\` (PAYSTREAM_TEST_RECEIPTS_KILL_PAYMENTS=${paymentsTotal}). Payments`,
        `through the real API from ${clients} clients (one in ten declined, each with a receipt_email of its own); two`,
        '`paystream worker receipts` processes; the one handling events killed with SIGKILL again and again and',
        "started again at once; the test's own SMTP server counts messages by Message-ID. 2 cores, Node 24.",
        '',
        `Result: ${summary}.`,
        '',
        `One receipt row per succeeded payment, none for a decline: **${rows.length === succeeded.length && missing.length === 0 && doubled.length === 0 && declinedWithReceipt.length === 0 ? 'yes' : 'NO'}**.`,
        `Every receipt at the SMTP server, distinct Message-IDs == succeeded payments: **${absent.length === 0 && counts.size === succeeded.length ? 'yes' : 'NO'}**.`,
        `Second copies (a send interrupted by a kill, resent with the same Message-ID): ${duplicates}, bound ${duplicatesBound}.`,
        `Dead letters: ${deadLetters.length}.`,
        '',
      ].join('\n'),
    );
  }
  assert.ok(kills.length >= Math.min(3, targetKills), `only ${kills.length} kills (target ${targetKills})`);
  assert.ok(
    kills.every((k) => k.wasApplying > 0),
    'every victim was applying events when it was killed',
  );
  assert.ok(duplicates <= duplicatesBound, `${duplicates} second copies > ${duplicatesBound}`);
  assert.deepEqual(deadLetters, [], 'no dead letters');
}

for (const mode of modes()) {
  describe(`receipts under kill -9 (${modeName(mode)})`, () => {
    test(
      `kill -9 of the busy receipts worker, again and again, during ${paymentsTotal} payments: one receipt each, none lost`,
      { timeout: 600_000 },
      (t) => killWorkersRepeatedly(t, mode),
    );
  });
}
