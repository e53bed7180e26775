import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { registerRelayMetrics } from '../../src/relay/metrics.ts';
import { OutboxRelay } from '../../src/relay/outbox-relay.ts';
import { startTestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';

/** The value of an unlabelled sample in Prometheus text, or undefined when it is absent. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

const body = { customer_id: 'cus_metrics', amount: 700, currency: 'usd', payment_method: 'pm_card_visa' };

for (const dialect of dialects()) {
  describe(`outbox and relay metrics (${dialect})`, () => {
    test('/metrics reports the outbox backlog and its oldest event’s age, whichever process runs the relay', async () => {
      // No relay in this process (as `paystream api`): the events wait in the outbox.
      const t = await startTestApp(dialect, {}, { relay: false });
      try {
        const scrape = async () => (await t.app.api.inject({ method: 'GET', url: '/metrics' })).body;
        let text = await scrape();
        assert.equal(sample(text, 'paystream_outbox_backlog_events'), 0);
        assert.equal(sample(text, 'paystream_outbox_oldest_event_age_seconds'), 0);
        assert.equal(sample(text, 'paystream_relay_active'), undefined, 'no relay runs in this process');

        for (let i = 0; i < 3; i += 1) assert.equal((await t.post('/v1/payments', body)).status, 200);
        await sleep(50);
        text = await scrape();
        assert.equal(sample(text, 'paystream_outbox_backlog_events'), 3);
        const age = sample(text, 'paystream_outbox_oldest_event_age_seconds')!;
        assert.ok(age >= 0.05 && age < 60, `oldest event age ${age} s`);

        if (t.app.transport) {
          // A relay (here beside the API, as `paystream relay` would run it) drains the backlog.
          const relay = new OutboxRelay({ store: t.app.store, transport: t.app.transport, leaseMs: 1000 });
          const registry = new Registry();
          registerRelayMetrics(registry, relay);
          assert.equal(await relay.publishRound(), 3);
          const relayText = await registry.metrics();
          assert.equal(sample(relayText, 'paystream_relay_published_events_total'), 3);
          assert.equal(sample(relayText, 'paystream_relay_failed_rounds_total'), 0);
          assert.equal(sample(relayText, 'paystream_relay_batches_total'), 1, 'one round, one batch');
          assert.equal(sample(relayText, 'paystream_relay_active'), 0, 'not started: it holds no lease');
          text = await scrape();
          assert.equal(sample(text, 'paystream_outbox_backlog_events'), 0);
          assert.equal(sample(text, 'paystream_outbox_oldest_event_age_seconds'), 0);
          await relay.start();
          try {
            assert.equal(sample(await registry.metrics(), 'paystream_relay_active'), 1);
          } finally {
            await relay.stop();
          }
        }
      } finally {
        await t.close();
      }
    });
  });
}
