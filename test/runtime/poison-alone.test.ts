import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConsumerRunner } from '../../src/runtime/runner.ts';
import { runtimeModes, runtimeRig } from './support.ts';

/**
 * A regression test, in-process, for what test/acceptance/receipts-poison-alone.test.ts found with
 * real processes: one event whose provider call always fails (a permanent error, such as SMTP's 550 for one
 * address), and nothing else flowing. Its failures are the provider's only calls, so the 5th
 * (maxAttempts) is also the 5th consecutive failure that opens the provider's breaker (threshold 5);
 * the retry middleware then takes the failure for an outage, which costs no attempt, and waits for
 * the breaker to probe; the probe is the same event, which fails again. Expected: dead-lettered
 * after 5 attempts, and another customer's event handled. The runtime in-process, no SMTP.
 */

for (const mode of runtimeModes()) {
  describe(`a permanently failing event alone (${mode === 'embedded' ? 'embedded log' : 'Kafka'})`, () => {
    test('is dead-lettered after its attempts and does not hold up other customers', {
      timeout: 120_000,
    }, async (t) => {
      const rig = await runtimeRig(mode);
      let runner: ConsumerRunner | undefined;
      t.after(async () => {
        await runner?.stop(0);
        await rig.close();
      });
      let calls = 0;
      const handled: string[] = [];
      runner = new ConsumerRunner(
        {
          name: 'poison-repro',
          types: ['payment.succeeded'],
          providers: ['smtp'],
          async handle(ctx) {
            const customer = (ctx.event.data as { customer_id: string }).customer_id;
            await ctx.effect('smtp', `send to ${customer}`, async () => {
              if (customer === 'cus_poison') {
                calls += 1;
                throw Object.assign(new Error('550 5.1.1 mailbox unavailable'), { responseCode: 550 });
              }
            });
            handled.push(customer);
          },
        },
        rig.deps,
      );
      await rig.publish([{ customer: 'cus_poison', amount: 1 }]);
      await runner.start();
      // Five attempts with a backoff of 200 ms doubling (full jitter) take under 4 s.
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && (await rig.deadLetters.count({ consumer: 'poison-repro' })) === 0)
        await sleep(200);
      await rig.publish([{ customer: 'cus_other', amount: 2 }]);
      const otherBy = Date.now() + 5_000;
      while (Date.now() < otherBy && !handled.includes('cus_other')) await sleep(100);
      const letters = await rig.deadLetters.count({ consumer: 'poison-repro' });
      t.diagnostic(
        `provider calls for the failing event: ${calls}; dead letters: ${letters}; ` +
          `smtp breaker: ${rig.deps.breakers.state('smtp')}; handled: ${JSON.stringify(handled)}`,
      );
      assert.equal(letters, 1, `dead-lettered after 5 attempts (${calls} calls made)`);
      assert.equal(calls, 5);
      assert.deepEqual(handled, ['cus_other'], 'the other customer is not held up');
    });
  });
}
