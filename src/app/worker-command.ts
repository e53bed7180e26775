import { createHttpServer } from '../http/server.ts';
import { systemClock } from '../platform/clock.ts';
import type { Config } from '../platform/config.ts';
import { IdGenerator } from '../platform/ids.ts';
import { createMetricsRegistry } from '../platform/metrics.ts';
import { Closers } from './closers.ts';
import { openStoreWithEventLog } from './event-log.ts';
import { startWorkers, type Workers } from './workers.ts';

/**
 * `paystream worker <consumer...>`: the chosen consumers in a process of their own, with
 * /metrics and /health on PAYSTREAM_WORKER_PORT. Run any number: on Kafka the members of a
 * consumer's group share its partitions; on the embedded log one is active, the others stand by.
 * SIGTERM lets events in progress finish (10 s), commits them, and leaves the group.
 */
export async function startWorker(
  config: Config,
  only: readonly string[] | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<{ workers: Workers; consumers: string[]; url: string; close: () => Promise<void> }> {
  const clock = systemClock;
  const ids = new IdGenerator(clock);
  const http = await createHttpServer({ bodyLimitBytes: 1024, logLevel: config.logLevel });
  const closers = new Closers((error) => http.log.error({ err: error }, 'closing failed'));
  closers.add(() => http.close());
  try {
    const { store, transport } = await openStoreWithEventLog(config, closers, 'worker', (error) =>
      http.log.error({ err: error }, 'idle PostgreSQL connection failed (the pool replaces it)'),
    );
    const registry = createMetricsRegistry();
    const workers = await startWorkers({
      config,
      env,
      store,
      transport,
      clock,
      ids,
      log: http.log,
      registry,
      only,
    });
    closers.add(() => workers.close());
    http.get('/health', { schema: { hide: true } }, async () => ({ status: 'ok' }));
    http.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.header('content-type', registry.contentType);
      return registry.metrics();
    });
    const url = await http.listen({ host: config.host, port: config.workerPort });
    return {
      workers,
      consumers: workers.runners.map((r) => r.consumer.name),
      url,
      close: () => closers.close(),
    };
  } catch (error) {
    await closers.close();
    throw error;
  }
}
