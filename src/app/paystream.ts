import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { ApiKeys } from '../admin/api-keys.ts';
import type { AdminRuntime } from '../admin/routes.ts';
import type { Gateway } from '../gateway/gateway.ts';
import { HttpGateway } from '../gateway/http-gateway.ts';
import { startSandboxGatewayThread } from '../gateway/sandbox/worker.ts';
import { purgeIdempotencyRecords } from '../idempotency/idempotency.ts';
import { Reconciler } from '../payments/reconciler.ts';
import { PaymentService } from '../payments/service.ts';
import { type Clock, systemClock } from '../platform/clock.ts';
import type { Config } from '../platform/config.ts';
import { IdGenerator } from '../platform/ids.ts';
import { createMetricsRegistry } from '../platform/metrics.ts';
import { registerOutboxMetrics, registerRelayMetrics } from '../relay/metrics.ts';
import { OutboxRelay, type RunningRelay } from '../relay/outbox-relay.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/store.ts';
import type { Transport } from '../transport/transport.ts';
import { buildApi } from './api.ts';
import { Closers } from './closers.ts';
import { coreTopics, openEventLog } from './event-log.ts';
import { migrationSets } from './migrations.ts';
import { startRelayThread } from './relay-thread.ts';
import { consumerNames } from './services.ts';
import { startWorkers, type Workers } from './workers.ts';

export interface Paystream {
  config: Config;
  store: Store;
  gateway: Gateway;
  apiKeys: ApiKeys;
  payments: PaymentService;
  reconciler: Reconciler;
  /** The event log: the embedded log, Kafka (PAYSTREAM_KAFKA_BROKERS), or undefined (events wait in the outbox). */
  transport: Transport | undefined;
  /** The relay this process runs: on the API's loop (embedded), on a thread of its own (Kafka). */
  relay: RunningRelay | undefined;
  /** The consumers this process runs (every service's, under `paystream start`), if any. */
  workers: Workers | undefined;
  /** The process's metrics, served at /metrics. */
  registry: Registry;
  api: FastifyInstance;
  /** http://host:port of the API once listening. */
  url: string;
  /** The sandbox gateway's URL when this process runs it. */
  sandboxUrl: string | undefined;
  /** The secret of the key created when the store had none (shown once). */
  firstKeySecret: string | undefined;
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  /** Create and return a first API key when the store has none (the default, in both modes). */
  createFirstKey?: boolean;
  /** Run the outbox relay in this process (the default; `paystream api` runs without it). */
  relay?: boolean;
  /**
   * Run the services' consumers in this process: all of them (the default of `paystream start`),
   * none (`paystream api`), or the ones named.
   */
  consumers?: 'all' | 'none' | readonly string[];
  /** The process environment the services read their settings from. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Wires the payment core for the configured mode and starts it: store (migrated), gateway (the
 * in-process sandbox unless PAYSTREAM_GATEWAY_URL is set), reconciler, idempotency purge, HTTP API.
 */
export async function startPaystream(config: Config, options: StartOptions = {}): Promise<Paystream> {
  const clock = options.clock ?? systemClock;
  const ids = new IdGenerator(clock);
  // Until the API (and its logger) exists, problems go to the process's warnings.
  let logError = (error: unknown, what: string) =>
    process.emitWarning(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  const closers = new Closers((error) => logError(error, 'closing failed'));
  const close = () => closers.close();
  try {
    const store = openStore(config, migrationSets, {
      onPoolError: (error) => logError(error, 'idle PostgreSQL connection failed (the pool replaces it)'),
    });
    closers.add(() => store.close());
    await store.migrate();

    let sandboxUrl: string | undefined;
    if (!config.gatewayUrl) {
      const sandbox = await startSandboxGatewayThread({
        file: path.join(config.dataDir, 'sandbox-gateway.sqlite'),
        host: config.host,
        port: config.gatewayPort,
      });
      closers.add(() => sandbox.close());
      sandboxUrl = sandbox.url;
    }
    const gateway = new HttpGateway({
      url: config.gatewayUrl ?? sandboxUrl!,
      timeoutMs: config.gatewayTimeoutMs,
    });
    closers.add(() => gateway.close());

    const apiKeys = new ApiKeys(store, ids, clock);
    let firstKeySecret: string | undefined;
    if ((options.createFirstKey ?? true) && (await apiKeys.count()) === 0) {
      firstKeySecret = (await apiKeys.create({ name: 'first key' })).secret;
    }

    const payments = new PaymentService({
      store,
      gateway,
      ids,
      clock,
      writeBatchMax: config.databaseBatchMax,
    });
    const registry = createMetricsRegistry();
    registerOutboxMetrics(registry, store, clock);
    const env = options.env ?? process.env;
    // The admin API learns of the event log and the consumers once they have started, below.
    const admin: AdminRuntime = {
      transport: undefined,
      running: undefined,
      directory: { names: consumerNames(), topics: coreTopics(config).map((t) => t.name) },
    };
    const api = await buildApi({
      config,
      store,
      apiKeys,
      payments,
      registry,
      env,
      admin: { ids, clock, runtime: admin },
    });
    logError = (error, what) => api.log.error({ err: error }, what);
    closers.add(() => api.close());
    const reconciler = new Reconciler({
      store,
      gateway,
      payments,
      clock,
      reconcileAfterMs: config.reconcileAfterMs,
      // A dead process's reconciler is replaced within three of its intervals (1 s to 30 s).
      leaseMs: Math.min(30_000, Math.max(1000, 3 * config.reconcileIntervalMs)),
      onError: (error) => api.log.error({ err: error }, 'reconciler run failed'),
    });
    await reconciler.start(config.reconcileIntervalMs);
    closers.add(() => reconciler.stop());

    // The event log for the mode (the embedded log, Kafka, or none yet), and the relay that feeds it.
    const transport = await openEventLog(config, store);
    admin.transport = transport;
    let relay: RunningRelay | undefined;
    if (transport) {
      closers.add(() => transport.close());
      if (options.relay ?? true) {
        const eventRetentionMs = config.eventRetentionDays * 86_400_000;
        const onError = (error: unknown) => api.log.error({ err: error }, 'outbox relay round failed');
        if (transport.engine === 'kafka') {
          // Its own event loop, as a `paystream relay` process would have (relay-thread.ts says why).
          relay = await startRelayThread({ config, eventRetentionMs, store, clock, onError });
        } else {
          const outboxRelay = new OutboxRelay({
            store,
            transport,
            clock,
            eventRetentionMs,
            idlePollMs: config.relayLingerMs,
            onError,
          });
          await outboxRelay.start();
          relay = outboxRelay;
        }
        const running = relay;
        registerRelayMetrics(registry, running);
        closers.add(() => running.stop());
      }
    }

    // The services' consumers, on the event log (none without one: PostgreSQL without Kafka).
    let workers: Workers | undefined;
    const consumers = options.consumers ?? 'all';
    if (transport && consumers !== 'none') {
      const started = await startWorkers({
        config,
        env,
        store,
        transport,
        clock,
        ids,
        log: api.log,
        registry,
        only: consumers === 'all' ? undefined : consumers,
      });
      workers = started;
      admin.running = started;
      closers.add(() => started.close());
    }

    const retentionMs = config.idempotencyRetentionHours * 3_600_000;
    const purge = setInterval(() => {
      purgeIdempotencyRecords(store, clock.now() - retentionMs).catch((error) =>
        api.log.error({ err: error }, 'idempotency purge failed'),
      );
    }, 60_000).unref();
    closers.add(async () => clearInterval(purge));

    const url = await api.listen({ host: config.host, port: config.port });
    return {
      config,
      store,
      gateway,
      apiKeys,
      payments,
      reconciler,
      transport,
      relay,
      workers,
      registry,
      api,
      url,
      sandboxUrl,
      firstKeySecret,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
