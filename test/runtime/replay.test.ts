import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConsumerDefinition } from '../../src/runtime/consumer.ts';
import { replay } from '../../src/runtime/replay.ts';
import { ConsumerRunner } from '../../src/runtime/runner.ts';
import { runtimeModes, runtimeRig, waitFor } from './support.ts';

/** Writes a row per event and "sends" through a provider: counts the real sends. */
function sender(sent: string[]): ConsumerDefinition {
  return {
    name: 'replayed',
    types: ['payment.succeeded'],
    providers: ['smtp'],
    async handle(ctx) {
      await ctx.effect('smtp', `send a receipt for ${ctx.event.id}`, async () => {
        sent.push(ctx.event.id);
      });
      const data = ctx.event.data as { customer_id: string; amount: number };
      await ctx.transaction((trx) =>
        trx
          .insertInto('test_effects')
          .values({
            consumer: 'replayed',
            event_id: ctx.event.id,
            customer: data.customer_id,
            amount: data.amount,
            seq: 0,
          })
          .execute(),
      );
    },
  };
}

for (const mode of runtimeModes()) {
  describe(`replay on ${mode === 'embedded' ? 'the embedded log (SQLite)' : 'Kafka + PostgreSQL'}`, () => {
    test('from a time: exactly the events since then; the inbox skips them unless bypassed; a dry run sends nothing and writes nothing', async () => {
      const rig = await runtimeRig(mode);
      const sent: string[] = [];
      const runner = new ConsumerRunner(sender(sent), rig.deps);
      try {
        const before = await rig.publish(
          Array.from({ length: 12 }, (_, i) => ({ customer: `c${i % 4}`, amount: i + 1 })),
        );
        await new Promise((r) => setTimeout(r, 50));
        const from = Date.now();
        await new Promise((r) => setTimeout(r, 50));
        const since = await rig.publish(
          Array.from({ length: 9 }, (_, i) => ({ customer: `c${i % 4}`, amount: 100 + i })),
        );
        await runner.start();
        await waitFor('21 effects', async () => (await rig.effects('replayed')).length >= 21);
        await runner.stop();
        assert.equal(sent.length, 21);

        // Without bypass: the inbox has every one of them, nothing is repeated.
        const plain = await replay(sender(sent), rig.deps, { from: { time: from } });
        assert.equal(plain.read, 9);
        assert.equal(plain.applied, 0);
        assert.equal(plain.skippedInbox, 9);
        assert.equal(sent.length, 21);

        // Dry run with bypass: the handler runs for exactly the 9, sends none, writes none.
        const dry = await replay(sender(sent), rig.deps, {
          from: { time: from },
          dryRun: true,
          bypassInbox: true,
        });
        assert.deepEqual(new Set(dry.appliedEventIds), new Set(since));
        assert.equal(
          Object.values(dry.suppressed).reduce((a, b) => a + b, 0),
          9,
        );
        assert.equal(sent.length, 21, 'a dry run sends nothing');
        assert.equal((await rig.effects('replayed')).length, 21, 'a dry run writes nothing');

        // Bypassing for real: exactly the 9 since `from` are applied again, none from before.
        const again = await replay(sender(sent), rig.deps, { from: { time: from }, bypassInbox: true });
        assert.deepEqual(new Set(again.appliedEventIds), new Set(since));
        assert.deepEqual(new Set(sent.slice(21)), new Set(since));
        assert.equal(sent.length, 30);
        assert.ok(!sent.slice(21).some((id) => before.includes(id)));

        // The consumer's own group did not move: nothing is waiting for it.
        const lag = await rig.transport.lag(runner.group, 'payments');
        assert.equal(
          lag.reduce((n, p) => n + p.lag, 0n),
          0n,
        );
      } finally {
        await runner.stop();
        await rig.close();
      }
    });

    test('from an offset to an offset reads just that stretch', async () => {
      const rig = await runtimeRig(mode);
      const sent: string[] = [];
      try {
        // One customer: one partition, so offsets are that partition's 0..9.
        const ids = await rig.publish(
          Array.from({ length: 10 }, (_, i) => ({ customer: 'solo', amount: i + 1 })),
        );
        const report = await replay(sender(sent), rig.deps, { from: { offset: 3n }, to: { offset: 7n } });
        assert.deepEqual(report.appliedEventIds, ids.slice(3, 7));
        assert.deepEqual(sent, ids.slice(3, 7));
      } finally {
        await rig.close();
      }
    });
  });
}
