import type { BreakerState, Breakers } from '../runtime/breakers.ts';
import type { DeadLetters } from '../runtime/dead-letters.ts';
import type { RuntimeMetrics } from '../runtime/metrics.ts';
import type { ConsumerRunner } from '../runtime/runner.ts';
import type { PartitionLag, Transport } from '../transport/transport.ts';

/** The consumers a process runs (`Workers` of src/app/workers.ts has this shape). */
export interface RunningConsumers {
  readonly runners: readonly ConsumerRunner[];
  readonly breakers: Breakers;
  readonly metrics: RuntimeMetrics | undefined;
}

/** What the admin API and `paystream lag` know of the consumers, wherever they run. */
export interface ConsumerDirectory {
  /** Every consumer of every service (src/app/services.ts `consumerNames()`). */
  readonly names: readonly string[];
  /**
   * The topics of a consumer that does not run in this process. A service names its consumers
   * without their event types until it starts, so these are the event log's topics (today one,
   * `payments`): right for every consumer of payment events.
   */
  readonly topics: readonly string[];
}

/** Counts of this process's RuntimeMetrics since it started. */
export interface ConsumerCounts {
  /** Events applied (the handler's transaction committed). */
  processed: number;
  /** Events passed over: already in the inbox, not the consumer's type, held, past a replay's end. */
  skipped: number;
  /** Handler attempts that failed (each retry counts). */
  failed: number;
  deadLettered: number;
}

export interface ConsumerStatus {
  name: string;
  group: string;
  topics: string[];
  /** Whether this process runs the consumer (then `paused`, breakers, counts and lag in seconds are known). */
  runningHere: boolean;
  paused: boolean | null;
  inFlight: number | null;
  /** Null without an event log (PostgreSQL without Kafka). */
  lag: { events: number; seconds: number | null; partitions: PartitionLag[] } | null;
  breakers: Record<string, BreakerState>;
  counts: ConsumerCounts | null;
  deadLetters: { pending: number; redriveRequested: number };
}

/**
 * Each known consumer's state: its group's lag per partition from the event log (the committed
 * offsets the log keeps, so it is right whichever process runs the consumer), what this process
 * knows of it if it runs it here, and its dead letters from the store.
 */
export async function consumerStatuses(deps: {
  directory: ConsumerDirectory;
  transport: Transport | undefined;
  running: RunningConsumers | undefined;
  deadLetters: DeadLetters;
}): Promise<ConsumerStatus[]> {
  const { directory, transport, running, deadLetters } = deps;
  const byName = new Map((running?.runners ?? []).map((r) => [r.consumer.name, r]));
  const names = [...new Set([...directory.names, ...byName.keys()])].sort();
  const counts = running?.metrics ? await countsByConsumer(running.metrics) : undefined;
  return Promise.all(
    names.map(async (name): Promise<ConsumerStatus> => {
      const runner = byName.get(name);
      // A consumer's group defaults to `paystream.<name>` (runtime/consumer.ts groupOf).
      const group = runner?.group ?? `paystream.${name}`;
      const topics = runner?.topics ?? [...directory.topics];
      let lag: ConsumerStatus['lag'] = null;
      if (transport) {
        const partitions = (await Promise.all(topics.map((topic) => transport.lag(group, topic)))).flat();
        const events = Number(partitions.reduce((sum, p) => sum + p.lag, 0n));
        const seconds = runner ? (await runner.lag()).seconds : null;
        lag = { events, seconds, partitions };
      }
      const breakers: Record<string, BreakerState> = {};
      if (runner && running) {
        for (const provider of runner.consumer.providers ?? [])
          breakers[provider] = running.breakers.state(provider);
      }
      const [pending, redriveRequested] = await Promise.all([
        deadLetters.count({ consumer: name, status: 'pending' }),
        deadLetters.count({ consumer: name, status: 'redrive_requested' }),
      ]);
      return {
        name,
        group,
        topics,
        runningHere: runner !== undefined,
        paused: runner ? runner.paused : null,
        inFlight: runner ? runner.inFlight : null,
        lag,
        breakers,
        counts: runner ? (counts?.get(name) ?? emptyCounts()) : null,
        deadLetters: { pending, redriveRequested },
      };
    }),
  );
}

function emptyCounts(): ConsumerCounts {
  return { processed: 0, skipped: 0, failed: 0, deadLettered: 0 };
}

async function countsByConsumer(metrics: RuntimeMetrics): Promise<Map<string, ConsumerCounts>> {
  const counts = new Map<string, ConsumerCounts>();
  const of = (consumer: unknown) => {
    const name = String(consumer);
    const known = counts.get(name);
    if (known) return known;
    const fresh = emptyCounts();
    counts.set(name, fresh);
    return fresh;
  };
  for (const v of (await metrics.events.get()).values) {
    const c = of(v.labels['consumer']);
    if (v.labels['outcome'] === 'applied') c.processed += v.value;
    else if (v.labels['outcome'] === 'skipped') c.skipped += v.value;
  }
  for (const v of (await metrics.attemptFailures.get()).values) of(v.labels['consumer']).failed += v.value;
  for (const v of (await metrics.deadLettered.get()).values) of(v.labels['consumer']).deadLettered += v.value;
  return counts;
}
