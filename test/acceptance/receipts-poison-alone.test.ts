import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../src/platform/clock.ts';
import { receiptsConsumer } from '../../src/services/receipts/consumer.ts';
import { type Mode, metric, modeName, modes, ReceiptsWorld, until } from './support.ts';

/**
 * Issue 13, acceptance: a poison event when nothing else flows (receipts-poison.test.ts has it
 * among other customers' payments). Found with this test: its failures opened the `smtp` breaker
 * and the consumer then waited for the server for ever (test/runtime/poison-alone.test.ts).
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

/**
 * The same poison event when nothing else is flowing. Its failed sends are then the only calls to
 * the `smtp` provider, a streak of consecutive failures like the one that opens its breaker: the
 * event must still be dead-lettered after its attempts (a 550 for one address is that message's
 * fault, not an outage of the server), and the next customer's receipt must go out.
 */
async function quietPoisonEvent(t: TestContext, mode: Mode): Promise<void> {
  const world = await ReceiptsWorld.create(t, mode);
  const worker = await world.startWorker();
  world.smtp.reject(poisonAddress);
  const first = await world.pay({
    customer_id: 'cus_first',
    amount: 100,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    receipt_email: 'first@example.com',
  });
  assert.equal(first.json.status, 'succeeded');
  await until('the first receipt', async () => world.smtp.messages.length === 1, 60_000);

  const poison = await world.pay({
    customer_id: 'cus_poison',
    amount: 666,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    receipt_email: poisonAddress,
  });
  assert.equal(poison.json.status, 'succeeded');
  const deadline = Date.now() + giveUpWithinMs;
  while (Date.now() < deadline && (await world.deadLetters()).length === 0) await sleep(200);
  const letters = await world.deadLetters();
  const breaker = await metric(worker.metricsUrl, 'paystream_breaker_state', 'provider="smtp"');
  const refusals = world.smtp.refused.filter((r) => r.address === poisonAddress);
  t.diagnostic(
    `${modeName(mode)}: after ${refusals.length} refusals over ${
      (refusals.at(-1)?.at ?? 0) - (refusals[0]?.at ?? 0)
    } ms: ${letters.length} dead letters, smtp breaker ${breaker}`,
  );
  assert.equal(
    letters.length,
    1,
    `dead-lettered within ${giveUpWithinMs} ms (refused ${refusals.length} times; breaker ${breaker})`,
  );
  assert.equal(Number(letters[0]!['attempts']), maxAttempts);
  assert.equal(refusals.length, maxAttempts);

  // Another customer's receipt is not held up.
  await world.pay({
    customer_id: 'cus_next',
    amount: 101,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    receipt_email: 'next@example.com',
  });
  await until(
    'the next customer’s receipt',
    async () => world.smtp.messagesTo('next@example.com').length === 1,
    15_000,
  );
}

for (const mode of modes()) {
  describe(`receipts: a poison event alone (${modeName(mode)})`, () => {
    test(
      'a 550 for one address while nothing else flows: still dead-lettered after its attempts, the next receipt goes out',
      { timeout: 300_000 },
      (t) => quietPoisonEvent(t, mode),
    );
  });
}
