import { Counter, Gauge, type Registry } from 'prom-client';
import { type Clock, systemClock } from '../platform/clock.ts';
import type { Store } from '../store/store.ts';
import { outboxStats, type RelayStatus } from './outbox-relay.ts';

/**
 * The outbox's backlog and oldest event's age, read from the store at each scrape: every process
 * that serves /metrics with the store reports them (they describe the shared outbox, not the
 * process: take the max over processes, do not sum).
 */
export function registerOutboxMetrics(registry: Registry, store: Store, clock: Clock = systemClock): void {
  new Gauge({
    name: 'paystream_outbox_backlog_events',
    help: 'Events written to the outbox and not yet published to the event log.',
    registers: [registry],
    async collect() {
      // NaN when the store does not answer: the scrape still serves every other metric.
      this.set((await outboxStats(store, clock).catch(() => undefined))?.backlog ?? Number.NaN);
    },
  });
  new Gauge({
    name: 'paystream_outbox_oldest_event_age_seconds',
    help: 'Age of the oldest event still in the outbox (0 when it is empty).',
    registers: [registry],
    async collect() {
      const stats = await outboxStats(store, clock).catch(() => undefined);
      this.set(stats ? stats.oldestAgeMs / 1000 : Number.NaN);
    },
  });
}

/** What a process that runs a relay reports of it: whether it is the active one, and its work. */
export function registerRelayMetrics(registry: Registry, relay: RelayStatus): void {
  new Gauge({
    name: 'paystream_relay_active',
    help: 'Whether this process’s relay holds the relay lease (1) or stands by (0).',
    registers: [registry],
    collect() {
      this.set(relay.active ? 1 : 0);
    },
  });
  new Counter({
    name: 'paystream_relay_published_events_total',
    help: 'Events this process’s relay published and moved out of the outbox.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(relay.counts.published);
    },
  });
  new Counter({
    name: 'paystream_relay_batches_total',
    help: 'Batches this process’s relay published (published events / batches: events per batch).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(relay.counts.batches);
    },
  });
  new Counter({
    name: 'paystream_relay_failed_rounds_total',
    help: 'Relay rounds that failed (event log or store unavailable); the events wait in the outbox.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(relay.counts.failedRounds);
    },
  });
}
