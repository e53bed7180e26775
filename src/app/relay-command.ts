import { createHttpServer } from '../http/server.ts';
import type { Config } from '../platform/config.ts';
import { createMetricsRegistry } from '../platform/metrics.ts';
import { registerOutboxMetrics, registerRelayMetrics } from '../relay/metrics.ts';
import { OutboxRelay } from '../relay/outbox-relay.ts';
import { Closers } from './closers.ts';
import { openStoreWithEventLog } from './event-log.ts';

/**
 * `paystream relay`: the outbox relay alone, for deployments that run it apart from the API. Any
 * number may run; one is active at a time (the `outbox_relay` lease), the others take over
 * within the lease if it dies. /metrics (whether this one is active, what it published, the
 * outbox's backlog) and /health on PAYSTREAM_WORKER_PORT.
 */
export async function startRelay(
  config: Config,
): Promise<{ relay: OutboxRelay; url: string; close: () => Promise<void> }> {
  const http = await createHttpServer({ bodyLimitBytes: 1024, logLevel: config.logLevel });
  const closers = new Closers((error) => http.log.error({ err: error }, 'closing failed'));
  closers.add(() => http.close());
  try {
    const { store, transport } = await openStoreWithEventLog(config, closers, 'relay', (error) =>
      http.log.error({ err: error }, 'idle PostgreSQL connection failed (the pool replaces it)'),
    );
    const relay = new OutboxRelay({
      store,
      transport,
      eventRetentionMs: config.eventRetentionDays * 86_400_000,
      idlePollMs: config.relayLingerMs,
      onError: (error) => http.log.error({ err: error }, 'outbox relay round failed'),
    });
    const registry = createMetricsRegistry();
    registerOutboxMetrics(registry, store);
    registerRelayMetrics(registry, relay);
    await relay.start();
    closers.add(() => relay.stop());
    http.get('/health', { schema: { hide: true } }, async () => ({ status: 'ok' }));
    http.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.header('content-type', registry.contentType);
      return registry.metrics();
    });
    const url = await http.listen({ host: config.host, port: config.workerPort });
    return { relay, url, close: () => closers.close() };
  } catch (error) {
    await closers.close();
    throw error;
  }
}
