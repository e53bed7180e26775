import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BreakerState, Breakers } from './breakers.ts';

/** What a running consumer reports for the lag gauges. */
export interface LagSource {
  readonly consumer: string;
  /** Events not yet handled, and how far behind in time the consumer is (0 when caught up). */
  lag(): Promise<{ events: number; seconds: number }>;
}

const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const endToEndBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/**
 * The consumer runtime's metrics, per consumer: events by outcome, failed attempts, dead letters,
 * handler duration, end-to-end latency (event time to handled), lag in events and in seconds, and
 * each provider's breaker state. One instance per registry (prom-client refuses a name twice).
 */
export class RuntimeMetrics {
  readonly events: Counter<'consumer' | 'outcome'>;
  readonly attemptFailures: Counter<'consumer'>;
  readonly deadLettered: Counter<'consumer' | 'reason'>;
  readonly handlerDuration: Histogram<'consumer'>;
  readonly endToEnd: Histogram<'consumer'>;
  readonly #sources = new Set<LagSource>();
  readonly #breakers = new Set<Breakers>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.events = new Counter({
      name: 'paystream_consumer_events_total',
      help: 'Events a consumer finished, by outcome: applied, skipped (already in its inbox, or not its type) or dead_lettered.',
      labelNames: ['consumer', 'outcome'],
      registers,
    });
    this.attemptFailures = new Counter({
      name: 'paystream_consumer_attempt_failures_total',
      help: 'Handler attempts that failed (each retry counts).',
      labelNames: ['consumer'],
      registers,
    });
    this.deadLettered = new Counter({
      name: 'paystream_consumer_dead_lettered_total',
      help: 'Events a consumer gave up on and put in its dead letters, by reason.',
      labelNames: ['consumer', 'reason'],
      registers,
    });
    this.handlerDuration = new Histogram({
      name: 'paystream_consumer_handler_duration_seconds',
      help: 'Time to handle one event, retries and waits included.',
      labelNames: ['consumer'],
      buckets: durationBuckets,
      registers,
    });
    this.endToEnd = new Histogram({
      name: 'paystream_consumer_end_to_end_seconds',
      help: 'From the event time (set as the payment commits) to the consumer having handled it.',
      labelNames: ['consumer'],
      buckets: endToEndBuckets,
      registers,
    });
    const sources = this.#sources;
    const lagOf = async () =>
      Promise.all(
        [...sources].map(async (s) => ({ consumer: s.consumer, lag: await s.lag().catch(() => undefined) })),
      );
    new Gauge({
      name: 'paystream_consumer_lag_events',
      help: 'Events on the consumer group’s topics not yet handled.',
      labelNames: ['consumer'],
      registers,
      async collect() {
        this.reset();
        for (const { consumer, lag } of await lagOf()) if (lag) this.set({ consumer }, lag.events);
      },
    });
    new Gauge({
      name: 'paystream_consumer_lag_seconds',
      help: 'How far behind the consumer is: the age of the last event it handled while events wait (0 when caught up).',
      labelNames: ['consumer'],
      registers,
      async collect() {
        this.reset();
        for (const { consumer, lag } of await lagOf()) if (lag) this.set({ consumer }, lag.seconds);
      },
    });
    const breakers = this.#breakers;
    new Gauge({
      name: 'paystream_breaker_state',
      help: 'A provider circuit breaker: 0 closed, 1 open, 0.5 half-open (probing).',
      labelNames: ['provider'],
      registers,
      collect() {
        this.reset();
        for (const b of breakers) {
          for (const [provider, state] of Object.entries(b.states()))
            this.set({ provider }, stateValue(state));
        }
      },
    });
  }

  /** Reports this consumer's lag in the gauges while it runs; returns the function that stops it. */
  track(source: LagSource): () => void {
    this.#sources.add(source);
    return () => this.#sources.delete(source);
  }

  trackBreakers(breakers: Breakers): void {
    this.#breakers.add(breakers);
  }
}

function stateValue(state: BreakerState): number {
  return state === 'closed' ? 0 : state === 'open' ? 1 : 0.5;
}
