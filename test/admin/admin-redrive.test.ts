import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiKeys } from '../../src/admin/api-keys.ts';
import { adminRoutes } from '../../src/admin/routes.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { createMetricsRegistry } from '../../src/platform/metrics.ts';
import type { ConsumerDefinition } from '../../src/runtime/consumer.ts';
import { RuntimeMetrics } from '../../src/runtime/metrics.ts';
import { ConsumerRunner } from '../../src/runtime/runner.ts';
import { runtimeModes, runtimeRig, waitFor } from '../runtime/support.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies of arbitrary shape
type Json = any;

for (const mode of runtimeModes()) {
  describe(`admin API over a running consumer (${mode})`, () => {
    test('a poison event shows in the dead letters and the consumer counts; a redrive through the API is applied once by the running worker', async () => {
      const rig = await runtimeRig(mode);
      let fixed = false;
      const consumer: ConsumerDefinition = {
        name: 'ledger',
        types: ['payment.succeeded'],
        maxAttempts: 2,
        timeoutMs: 2000,
        async handle(ctx) {
          const data = ctx.event.data as { customer_id: string; amount: number };
          if (data.amount === 13 && !fixed) throw new Error('amount 13 is unlucky');
          await ctx.transaction((trx) =>
            trx
              .insertInto('test_effects')
              .values({
                consumer: 'ledger',
                event_id: ctx.event.id,
                customer: data.customer_id,
                amount: data.amount,
                seq: 0,
              })
              .execute(),
          );
        },
      };
      const metrics = new RuntimeMetrics(createMetricsRegistry({ processMetrics: false }));
      const runner = new ConsumerRunner(consumer, { ...rig.deps, metrics }, { retryBaseDelayMs: 10 });
      const api = await createHttpServer({ bodyLimitBytes: 65_536, logLevel: 'silent' });
      const apiKeys = new ApiKeys(rig.store, rig.ids, systemClock);
      await api.register(adminRoutes, {
        store: rig.store,
        apiKeys,
        ids: rig.ids,
        clock: systemClock,
        runtime: {
          transport: rig.transport,
          running: { runners: [runner], breakers: rig.deps.breakers, metrics },
          directory: { names: ['ledger', 'elsewhere'], topics: ['payments'] },
        },
      });
      const { secret } = await apiKeys.create({ role: 'admin' });
      const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
        const res = await api.inject({
          method,
          url,
          headers: {
            authorization: `Bearer ${secret}`,
            ...(body === undefined
              ? {}
              : { 'content-type': 'application/json', 'idempotency-key': `k-${Math.random()}` }),
          },
          ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        });
        return { status: res.statusCode, json: res.json() as Json };
      };
      try {
        const events = Array.from({ length: 20 }, (_, i) => ({ customer: `c${i % 4}`, amount: i + 1 }));
        const ids = await rig.publish(events);
        await runner.start();
        await waitFor('19 effects', async () => (await rig.effects('ledger')).length >= 19);
        await waitFor('lag 0', async () => (await runner.lag()).events === 0);

        const list = await call('GET', '/v1/admin/dead-letters?consumer=ledger&status=pending');
        assert.equal(list.status, 200);
        assert.equal(list.json.data.length, 1);
        const letter = list.json.data[0];
        assert.equal(letter.event_id, ids[12]);
        assert.equal(letter.attempts, 2);
        assert.match(letter.error, /amount 13 is unlucky/);
        assert.equal(letter.data.amount, 13);

        const consumers = await call('GET', '/v1/admin/consumers');
        assert.equal(consumers.status, 200);
        const ledger = consumers.json.data.find((c: Json) => c.name === 'ledger');
        assert.equal(ledger.running_here, true);
        assert.equal(ledger.group, 'paystream.ledger');
        assert.equal(ledger.paused, false);
        assert.equal(ledger.lag.events, 0);
        assert.ok(ledger.lag.partitions.length >= 1);
        const committed = ledger.lag.partitions.reduce((sum: number, p: Json) => sum + p.committed, 0);
        assert.equal(committed, 20, 'every record committed, the poison one included');
        assert.deepEqual(ledger.counts, { processed: 19, skipped: 0, failed: 2, dead_lettered: 1 });
        assert.deepEqual(ledger.dead_letters, { pending: 1, redrive_requested: 0 });
        const elsewhere = consumers.json.data.find((c: Json) => c.name === 'elsewhere');
        assert.equal(elsewhere.running_here, false);
        assert.equal(elsewhere.group, 'paystream.elsewhere');
        assert.equal(elsewhere.lag.events, 20, 'a group that never committed lags by the whole log');
        assert.equal(elsewhere.counts, null);

        fixed = true;
        const redrive = await call('POST', '/v1/admin/dead-letters/redrive', { ids: [letter.id] });
        assert.deepEqual(redrive.json, { object: 'dead_letter_redrive', marked: 1 });
        await waitFor(
          'redriven',
          async () => (await call('GET', `/v1/admin/dead-letters/${letter.id}`)).json.status === 'redriven',
        );
        const effects = await rig.effects('ledger');
        assert.equal(effects.length, 20);
        assert.equal(effects.filter((e) => e.event_id === ids[12]).length, 1);
        const after = (await call('GET', `/v1/admin/dead-letters/${letter.id}`)).json;
        assert.equal(after.redrives, 1);
        const again = await call('POST', '/v1/admin/dead-letters/redrive', { ids: [letter.id] });
        assert.deepEqual(again.json, { object: 'dead_letter_redrive', marked: 0 });
      } finally {
        await runner.stop();
        await api.close();
        await rig.close();
      }
    });
  });
}
