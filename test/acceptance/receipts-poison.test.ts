import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../src/platform/clock.ts';
import { receiptsConsumer } from '../../src/services/receipts/consumer.ts';
import { type Mode, messageIdOf, modeName, modes, ReceiptsWorld, until } from './support.ts';

/**
 * Issue 13, acceptance: a poison event. The SMTP server refuses one customer's address with a
 * permanent 550 while other customers' payments keep coming. The receipts consumer gives that event
 * up after its configured attempts and dead-letters it with the reason, the attempts, the error
 * and the original headers; the customer's later events wait behind it and then flow, others never
 * stop. Then the address is "fixed" (the server accepts it) and the dead letter redriven: exactly one
 * receipt for it, and the dead letter is `redriven`.
 */

/** The receipts consumer's configured attempts (the runtime's default when it sets none). */
const maxAttempts =
  receiptsConsumer({
    mailer: { send: async () => undefined, close: () => undefined },
    from: 'receipts@paystream.local',
    locale: 'en-US',
    clock: systemClock,
  }).maxAttempts ?? 5;
/**
 * The longest those attempts can take: the retries' backoff ceilings (200 ms doubling, at most
 * 30 s; the jitter draws below them), plus time for the sends and the dead letter.
 */
const giveUpWithinMs =
  Array.from({ length: maxAttempts - 1 }, (_, n) => Math.min(30_000, 200 * 2 ** n)).reduce(
    (a, b) => a + b,
    0,
  ) + 20_000;
const poisonAddress = 'poison@example.com';

async function poisonEvent(t: TestContext, mode: Mode): Promise<void> {
  const world = await ReceiptsWorld.create(t, mode);
  const worker = await world.startWorker();
  world.smtp.reject(poisonAddress);

  // Other customers pay all along: about 20 payments a second.
  const flow: Array<{ id: string; at: number }> = [];
  let flowing = true;
  let n = 0;
  const flower = (async () => {
    while (flowing) {
      const i = n++;
      const answer = await world.pay({
        customer_id: `cus_flow_${i % 8}`,
        amount: 1000 + i,
        currency: 'usd',
        payment_method: 'pm_card_visa',
        receipt_email: `flow${i}@example.com`,
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      flow.push({ id: answer.json.id, at: Date.now() });
      await sleep(50);
    }
  })();
  flower.catch(() => undefined); // awaited below; a failure there fails the test
  await until('receipts flow', async () => world.smtp.messages.length >= 10, 60_000);

  // The poison payment, then two more of the same customer to good addresses.
  const poison = await world.pay({
    customer_id: 'cus_poison',
    amount: 666,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    receipt_email: poisonAddress,
  });
  assert.equal(poison.json.status, 'succeeded');
  const later: string[] = [];
  for (const k of [1, 2]) {
    const answer = await world.pay({
      customer_id: 'cus_poison',
      amount: 666 + k,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      receipt_email: `after${k}@example.com`,
    });
    assert.equal(answer.json.status, 'succeeded');
    later.push(answer.json.id as string);
  }

  await until(
    'the poison event is dead-lettered',
    async () => (await world.deadLetters()).length > 0,
    giveUpWithinMs,
    () => `refusals so far: ${world.smtp.refused.length}`,
  );
  const deadLetteredAt = Date.now();
  const [letter, ...others] = await world.deadLetters();
  assert.equal(others.length, 0, 'one dead letter');
  const eventId = String(letter!['event_id']);
  assert.equal(letter!['consumer'], 'receipts');
  assert.equal(letter!['event_type'], 'payment.succeeded');
  assert.equal(letter!['status'], 'pending');
  assert.equal(letter!['reason'], 'handler_failed');
  assert.equal(Number(letter!['attempts']), maxAttempts, 'given up after the configured attempts');
  assert.match(String(letter!['error']), /550/, 'the error is the server’s refusal');
  const headers = JSON.parse(String(letter!['headers'])) as Record<string, string>;
  assert.equal(headers['ce_id'], eventId, 'the original headers are kept');
  assert.equal(headers['ce_type'], 'payment.succeeded');
  assert.equal(headers['ce_subject'], poison.json.id);
  const refusals = world.smtp.refused.filter((r) => r.address === poisonAddress);
  assert.equal(refusals.length, maxAttempts, 'one RCPT TO refused per attempt, no more');
  assert.equal(world.smtp.messagesTo(poisonAddress).length, 0);
  assert.equal(
    (await world.rows('SELECT event_id FROM receipts WHERE payment_id = ?', [poison.json.id])).length,
    0,
    'no receipt recorded for the poison payment',
  );

  // Other customers' receipts kept flowing while the poison event was retried.
  const firstRefusal = refusals[0]!.at;
  const lastRefusal = refusals.at(-1)!.at;
  const duringRetries = world.smtp.messages.filter(
    (m) => m.acceptedAt > firstRefusal && m.acceptedAt < lastRefusal,
  ).length;
  assert.ok(duringRetries > 0, 'other receipts were sent between the first and the last attempt');

  // The customer's later events waited behind the poison one, then went out.
  await until(
    'the poison customer’s later receipts',
    async () => later.every((_, k) => world.smtp.messagesTo(`after${k + 1}@example.com`).length > 0),
    30_000,
  );
  for (const k of [1, 2]) {
    const [message] = world.smtp.messagesTo(`after${k}@example.com`);
    assert.ok(message!.acceptedAt >= lastRefusal, `after${k} was sent after the poison event was given up`);
  }
  // And the flow goes on after it.
  const sentAtDeadLetter = world.smtp.messages.length;
  await until(
    'receipts after the dead letter',
    async () => world.smtp.messages.length >= sentAtDeadLetter + 10,
    30_000,
  );

  // The fix, then a redrive: exactly one receipt for the poison payment.
  world.smtp.accept(poisonAddress);
  const requested = await world.deadLetterStore().requestRedrive({ consumer: 'receipts' });
  assert.equal(requested, 1);
  await until(
    'the redriven receipt',
    async () => (await world.rows('SELECT status FROM runtime_dead_letters'))[0]!['status'] === 'redriven',
    30_000,
  );
  flowing = false;
  await flower;
  await until('every flow receipt', async () => (await world.receiptCount()) >= flow.length + 3, 60_000);
  await sleep(1500); // a second redrive of it would be claimed within a second

  const delivered = world.smtp.messagesTo(poisonAddress);
  assert.equal(delivered.length, 1, 'the poison receipt went out once');
  assert.equal(delivered[0]!.messageId, messageIdOf(eventId));
  assert.equal(delivered[0]!.eventId, eventId);
  const receipt = await world.rows('SELECT event_id, status, message_id FROM receipts WHERE payment_id = ?', [
    poison.json.id,
  ]);
  assert.deepEqual(receipt, [{ event_id: eventId, status: 'sent', message_id: messageIdOf(eventId) }]);
  const [redriven] = await world.deadLetters();
  assert.equal(redriven!['status'], 'redriven');
  assert.equal(Number(redriven!['redrives']), 1);

  // Every other payment: exactly one receipt, at the server once.
  const counts = world.smtp.countsByMessageId();
  const rows = await world.receipts();
  assert.equal(rows.length, flow.length + 3);
  for (const row of rows)
    assert.equal(counts.get(String(row['message_id'])), 1, `one copy of ${row['message_id']}`);
  const attemptFailures = await fetch(worker.metricsUrl).then((r) => r.text());
  t.diagnostic(
    `${modeName(mode)}: ${flow.length} flow payments; poison refused ${refusals.length} times over ` +
      `${lastRefusal - firstRefusal} ms, dead-lettered ${deadLetteredAt - firstRefusal} ms after its first attempt; ` +
      `${duringRetries} other receipts sent meanwhile; ` +
      `${/paystream_consumer_dead_lettered_total\{[^}]*\} (\d+)/.exec(attemptFailures)?.[1] ?? '?'} dead-lettered per the worker's metrics`,
  );
}

for (const mode of modes()) {
  describe(`receipts: a poison event (${modeName(mode)})`, () => {
    test(
      'a 550 for one address: dead-lettered after its attempts while others flow; after the fix a redrive sends it once',
      { timeout: 300_000 },
      (t) => poisonEvent(t, mode),
    );
  });
}
