import type { Registry } from 'prom-client';
import type { Clock } from '../platform/clock.ts';
import { type Config, ConfigError } from '../platform/config.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import { Breakers } from '../runtime/breakers.ts';
import { DeadLetters } from '../runtime/dead-letters.ts';
import { RuntimeMetrics } from '../runtime/metrics.ts';
import { purgeInbox } from '../runtime/middleware/inbox.ts';
import { ConsumerRunner } from '../runtime/runner.ts';
import type { RunningService } from '../runtime/service.ts';
import type { Store } from '../store/store.ts';
import type { Transport } from '../transport/transport.ts';
import { consumerNames, services } from './services.ts';

export interface WorkersOptions {
  config: Config;
  env: Readonly<Record<string, string | undefined>>;
  store: Store;
  transport: Transport;
  clock: Clock;
  ids: IdGenerator;
  log: Logger;
  registry?: Registry | undefined;
  /** The consumers to run; all of them when unset. */
  only?: readonly string[] | undefined;
}

export interface Workers {
  readonly runners: readonly ConsumerRunner[];
  readonly breakers: Breakers;
  readonly deadLetters: DeadLetters;
  readonly metrics: RuntimeMetrics | undefined;
  /** Stops the consumers (in-flight events get `graceMs` to finish), then their services. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts consumers in this process: `paystream worker <consumer...>`, and every consumer under
 * `paystream start`. Each service with a chosen consumer is started (its SMTP sink, say), and each
 * chosen consumer gets a runner on the event log. Members of one consumer's group in other
 * processes share its partitions (Kafka) or stand by (the embedded log).
 */
export async function startWorkers(options: WorkersOptions): Promise<Workers> {
  const known = consumerNames();
  const chosen = options.only ?? known;
  const unknown = chosen.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new ConfigError(`unknown consumer ${unknown.join(', ')} (known: ${known.join(', ') || 'none'})`);
  }
  const breakers = new Breakers();
  const deadLetters = new DeadLetters(options.store, options.ids, options.clock);
  const metrics = options.registry ? new RuntimeMetrics(options.registry) : undefined;
  metrics?.trackBreakers(breakers);
  const started: RunningService[] = [];
  const runners: ConsumerRunner[] = [];
  const close = async (graceMs = 10_000) => {
    clearInterval(purge);
    await Promise.allSettled(runners.map((r) => r.stop(graceMs)));
    await Promise.allSettled(started.map((s) => s.close()));
  };
  let purge: NodeJS.Timeout | undefined;
  try {
    for (const service of services) {
      if (!service.consumerNames.some((name) => chosen.includes(name))) continue;
      const running = await service.start({
        env: options.env,
        mode: options.config.mode,
        dataDir: options.config.dataDir,
        store: options.store,
        clock: options.clock,
        ids: options.ids,
        log: options.log,
      });
      started.push(running);
      for (const consumer of running.consumers) {
        if (!chosen.includes(consumer.name)) continue;
        const runner = new ConsumerRunner(
          consumer,
          {
            transport: options.transport,
            store: options.store,
            clock: options.clock,
            ids: options.ids,
            log: options.log,
            breakers,
            deadLetters,
            metrics,
          },
          {
            retryBaseDelayMs: options.config.retryBaseDelayMs,
            retryMaxDelayMs: options.config.retryMaxDelayMs,
          },
        );
        await runner.start();
        runners.push(runner);
      }
    }
    // The inbox remembers an event as long as the event log may hand it out again.
    const retentionMs = options.config.eventRetentionDays * 86_400_000;
    purge = setInterval(() => {
      purgeInbox(options.store, options.clock.now() - retentionMs).catch((error) =>
        options.log.error({ err: error }, 'inbox purge failed'),
      );
    }, 3_600_000).unref();
  } catch (error) {
    await close(0);
    throw error;
  }
  return { runners, breakers, deadLetters, metrics, close };
}
