import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Breakers } from '../../src/runtime/breakers.ts';
import type { ConsumerDefinition, HandlerContext } from '../../src/runtime/consumer.ts';
import { ConsumerRunner } from '../../src/runtime/runner.ts';
import { runtimeModes, runtimeRig, waitFor } from './support.ts';

/** A consumer that writes one row per event, numbered in the order it applied them. */
function recorder(name: string, before?: (ctx: HandlerContext) => Promise<void>): ConsumerDefinition {
  let seq = 0;
  return {
    name,
    types: ['payment.succeeded'],
    providers: ['flaky'],
    maxAttempts: 3,
    timeoutMs: 2000,
    async handle(ctx) {
      await before?.(ctx);
      const data = ctx.event.data as { customer_id: string; amount: number };
      await ctx.transaction((trx) =>
        trx
          .insertInto('test_effects')
          .values({
            consumer: name,
            event_id: ctx.event.id,
            customer: data.customer_id,
            amount: data.amount,
            seq: ++seq,
          })
          .execute(),
      );
    },
  };
}

/** Checks that each customer's rows came in ascending amount order (amounts carry the sequence). */
function assertOrderPerCustomer(rows: ReadonlyArray<{ customer: string; amount: number }>): void {
  const last = new Map<string, number>();
  for (const row of rows) {
    const previous = last.get(row.customer) ?? -1;
    assert.ok(row.amount > previous, `customer ${row.customer}: ${row.amount} applied after ${previous}`);
    last.set(row.customer, row.amount);
  }
}

for (const mode of runtimeModes()) {
  describe(`consumer runner on ${mode === 'embedded' ? 'the embedded log (SQLite)' : 'Kafka + PostgreSQL'}`, () => {
    test('applies every event once, in order per customer, and commits: lag drops to 0', async () => {
      const rig = await runtimeRig(mode);
      const runner = new ConsumerRunner(recorder('orders'), rig.deps, { retryBaseDelayMs: 10 });
      try {
        const events = Array.from({ length: 300 }, (_, i) => ({ customer: `c${i % 7}`, amount: i + 1 }));
        const ids = await rig.publish(events);
        await runner.start();
        await waitFor('300 effects', async () => (await rig.effects('orders')).length >= 300);
        await waitFor('lag 0', async () => (await runner.lag()).events === 0);
        const rows = await rig.effects('orders');
        assert.equal(rows.length, 300);
        assert.deepEqual(new Set(rows.map((r) => r.event_id)), new Set(ids));
        assertOrderPerCustomer(rows);
      } finally {
        await runner.stop();
        await rig.close();
      }
    });

    test('a redelivered event is skipped by the inbox: a group sent back to the start applies nothing twice', async () => {
      const rig = await runtimeRig(mode);
      const skipped: string[] = [];
      const options = {
        retryBaseDelayMs: 10,
        onFinished: (f: { outcome: { skipped?: string } }) =>
          f.outcome.skipped && skipped.push(f.outcome.skipped),
      };
      let runner = new ConsumerRunner(recorder('once'), rig.deps, options);
      try {
        await rig.publish(Array.from({ length: 50 }, (_, i) => ({ customer: `c${i % 3}`, amount: i + 1 })));
        await runner.start();
        await waitFor('50 effects', async () => (await rig.effects('once')).length >= 50);
        await waitFor('lag 0', async () => (await runner.lag()).events === 0);
        await runner.stop();
        await rig.transport.seek(runner.group, 'payments', 'earliest');
        runner = new ConsumerRunner(recorder('once'), rig.deps, options);
        await runner.start();
        await waitFor('50 inbox skips', () => skipped.length >= 50);
        assert.equal((await rig.effects('once')).length, 50);
        assert.ok(skipped.every((s) => s === 'inbox'));
      } finally {
        await runner.stop();
        await rig.close();
      }
    });

    test('a poison event is dead-lettered after its attempts while other customers flow; its customer waits; a redrive after the fix applies it once', async () => {
      const rig = await runtimeRig(mode);
      let fixed = false;
      const attemptsOfPoison: number[] = [];
      const consumer = recorder('poison', async (ctx) => {
        const data = ctx.event.data as { amount: number };
        if (data.amount === 5 && !fixed) {
          attemptsOfPoison.push(ctx.attempt);
          throw new Error('cannot handle amount 5');
        }
      });
      const runner = new ConsumerRunner(consumer, rig.deps, { retryBaseDelayMs: 150, retryMaxDelayMs: 300 });
      try {
        // Customer p: 1, 5 (poison), 9; customer q: 2..40 flows meanwhile.
        const events = [
          { customer: 'p', amount: 1 },
          { customer: 'p', amount: 5 },
          { customer: 'p', amount: 9 },
          ...Array.from({ length: 20 }, (_, i) => ({ customer: 'q', amount: 10 + i })),
        ];
        const ids = await rig.publish(events);
        await runner.start();
        await waitFor('22 effects', async () => (await rig.effects('poison')).length >= 22);
        const rows = await rig.effects('poison');
        assert.equal(rows.length, 22);
        assert.deepEqual(attemptsOfPoison, [1, 2, 3]);
        // p's 9 waited for the poison event to end in the dead letters.
        const p = rows.filter((r) => r.customer === 'p').map((r) => r.amount);
        assert.deepEqual(p, [1, 9]);
        const letters = await rig.deadLetters.list({ consumer: 'poison' }, { limit: 10 });
        assert.equal(letters.length, 1);
        assert.equal(letters[0]!.eventId, ids[1]);
        assert.equal(letters[0]!.reason, 'handler_failed');
        assert.equal(letters[0]!.attempts, 3);
        assert.match(letters[0]!.error, /cannot handle amount 5/);
        assert.equal(letters[0]!.headers['ce_id'], ids[1]);
        await waitFor('lag 0', async () => (await runner.lag()).events === 0);

        fixed = true;
        assert.equal(await rig.deadLetters.requestRedrive({ consumer: 'poison' }), 1);
        await waitFor('the redrive', async () => (await rig.effects('poison')).length >= 23);
        await waitFor(
          'redriven',
          async () => (await rig.deadLetters.get(letters[0]!.id))?.status === 'redriven',
        );
        // A second request finds nothing pending: the event is applied once.
        assert.equal(await rig.deadLetters.requestRedrive({ consumer: 'poison' }), 0);
        await new Promise((r) => setTimeout(r, 1500));
        const after = await rig.effects('poison');
        assert.equal(after.filter((r) => r.event_id === ids[1]).length, 1);
      } finally {
        await runner.stop();
        await rig.close();
      }
    });

    test('an open breaker pauses the consumer instead of dead-lettering; it resumes by probing and loses nothing', async () => {
      const breakers = new Breakers({ threshold: 3, halfOpenAfterMs: 300, maxHalfOpenAfterMs: 600 });
      const rig = await runtimeRig(mode, breakers);
      let down = true;
      let calls = 0;
      const consumer = recorder('breaker', async (ctx) => {
        await ctx.effect('flaky', 'call the provider', async () => {
          calls += 1;
          if (down) throw new Error('provider down');
        });
      });
      const runner = new ConsumerRunner(consumer, rig.deps, { retryBaseDelayMs: 20, retryMaxDelayMs: 50 });
      try {
        await rig.publish(Array.from({ length: 40 }, (_, i) => ({ customer: `c${i % 8}`, amount: i + 1 })));
        await runner.start();
        await waitFor('the breaker opens', () => breakers.state('flaky') !== 'closed');
        await waitFor('the consumer pauses', () => runner.paused);
        const callsWhileOpen = calls;
        await new Promise((r) => setTimeout(r, 1500));
        // Only probes reach the provider while it is down: a few, not a spin.
        assert.ok(calls - callsWhileOpen <= 6, `${calls - callsWhileOpen} calls in 1.5 s while open`);
        assert.equal(await rig.deadLetters.count({ consumer: 'breaker' }), 0);
        down = false;
        await waitFor('40 effects', async () => (await rig.effects('breaker')).length >= 40);
        assert.equal(breakers.state('flaky'), 'closed');
        assert.equal(runner.paused, false);
        const rows = await rig.effects('breaker');
        assert.equal(new Set(rows.map((r) => r.event_id)).size, 40);
        assertOrderPerCustomer(rows);
        assert.equal(await rig.deadLetters.count({ consumer: 'breaker' }), 0);
      } finally {
        await runner.stop();
        await rig.close();
      }
    });

    test('an attempt past its timeout fails, cannot commit late, and ends as a timeout dead letter', async () => {
      const rig = await runtimeRig(mode);
      const consumer: ConsumerDefinition = {
        ...recorder('slow', async (ctx) => {
          if ((ctx.event.data as { amount: number }).amount === 2)
            await new Promise((r) => setTimeout(r, 600));
        }),
        timeoutMs: 200,
        maxAttempts: 2,
      };
      const runner = new ConsumerRunner(consumer, rig.deps, { retryBaseDelayMs: 10 });
      try {
        const ids = await rig.publish([
          { customer: 'a', amount: 1 },
          { customer: 'a', amount: 2 },
          { customer: 'a', amount: 3 },
        ]);
        await runner.start();
        await waitFor('2 effects', async () => (await rig.effects('slow')).length >= 2);
        await new Promise((r) => setTimeout(r, 1000));
        const rows = await rig.effects('slow');
        assert.deepEqual(
          rows.map((r) => r.amount),
          [1, 3],
        );
        const [letter] = await rig.deadLetters.list({ consumer: 'slow' }, { limit: 5 });
        assert.equal(letter?.eventId, ids[1]);
        assert.equal(letter?.reason, 'timeout');
      } finally {
        await runner.stop();
        await rig.close();
      }
    });

    test('stop() lets the attempt in progress finish and commits it; nothing after it is committed', async () => {
      const rig = await runtimeRig(mode);
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let entered: () => void = () => undefined;
      const inProgress = new Promise<void>((r) => {
        entered = r;
      });
      const consumer = recorder('graceful', async (ctx) => {
        if ((ctx.event.data as { amount: number }).amount === 3) {
          entered();
          await gate;
        }
      });
      // A handler timeout far beyond the gate's 300 ms: on a loaded machine (CI runs two test files
      // at once, a JVM starting beside them) the recorder's 2 s could expire first, and the attempt
      // would then be abandoned for the timeout, not for the stop this test is about.
      const runner = new ConsumerRunner({ ...consumer, concurrency: 1, timeoutMs: 60_000 }, rig.deps, {
        retryBaseDelayMs: 10,
      });
      try {
        await rig.publish(Array.from({ length: 6 }, (_, i) => ({ customer: 'one', amount: i + 1 })));
        await runner.start();
        // Stop only once the third attempt is in the handler: that is the attempt in progress.
        await inProgress;
        assert.equal((await rig.effects('graceful')).length, 2);
        const stopping = runner.stop(30_000);
        setTimeout(release, 300);
        await stopping;
        const rows = await rig.effects('graceful');
        assert.deepEqual(
          rows.map((r) => r.amount),
          [1, 2, 3],
        );
        const lag = await rig.transport.lag(runner.group, 'payments');
        assert.equal(
          lag.reduce((n, p) => n + p.lag, 0n),
          3n,
        );
      } finally {
        await runner.stop();
        await rig.close();
      }
    });
  });
}
