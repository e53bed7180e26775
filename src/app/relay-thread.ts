import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type Clock, systemClock } from '../platform/clock.ts';
import type { Config } from '../platform/config.ts';
import {
  OutboxRelay,
  outboxStats,
  type RelayCounts,
  type RelayStats,
  type RelayStatus,
} from '../relay/outbox-relay.ts';
import type { Store } from '../store/store.ts';
import { Closers } from './closers.ts';
import { openStoreWithEventLog } from './event-log.ts';

/**
 * The outbox relay on a thread of its own, as `paystream start` runs it in the distributed mode.
 * The relay is latency-bound work (read the outbox, publish, wait for the brokers' acks, move the
 * rows) that the API's event loop would otherwise interleave with every HTTP request: measured on
 * 2 cores at 1,000 payments/s, an event's commit-to-subscriber p99 was 83 ms with the relay on the
 * API's loop and 46 ms with it on a loop of its own. The thread has its own store connections and
 * Kafka producer, and dies with the process, as a relay process would (`paystream relay`).
 *
 * The embedded mode keeps its relay on the API's loop: there the relay appends to the log inside
 * the store's own transactions, which share the one SQLite writer (and its group commit).
 */
export interface RelayThread extends RelayStatus {
  stats(): Promise<RelayStats>;
  stop(): Promise<void>;
}

/** The relay thread's connections: one reads and publishes while one moves, one keeps the lease. */
const relayPoolMax = 3;
/** How often the thread reports its state (for /metrics), at most. */
const reportIntervalMs = 200;

interface Settings {
  config: Config;
  eventRetentionMs: number;
}

type FromThread =
  | { kind: 'started' }
  | { kind: 'status'; active: boolean; counts: RelayCounts }
  | { kind: 'error'; message: string }
  | { kind: 'failed'; message: string }
  | { kind: 'stopped' };

export function startRelayThread(options: {
  config: Config;
  eventRetentionMs: number;
  store: Store;
  clock?: Clock;
  onError: (error: Error) => void;
}): Promise<RelayThread> {
  const settings: Settings = {
    config: { ...options.config, databasePoolMax: relayPoolMax },
    eventRetentionMs: options.eventRetentionMs,
  };
  const worker = new Worker(new URL(import.meta.url), { workerData: settings });
  const state: { active: boolean; counts: RelayCounts } = {
    active: false,
    counts: { published: 0, batches: 0, failedRounds: 0 },
  };
  let stopped: Promise<void> | undefined;
  return new Promise((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`the relay thread exited with code ${code}`));
    worker.once('error', reject);
    worker.once('exit', onExit);
    worker.on('message', (message: FromThread) => {
      switch (message.kind) {
        case 'failed':
          reject(new Error(`the relay thread failed to start: ${message.message}`));
          return;
        case 'status':
          state.active = message.active;
          state.counts = message.counts;
          return;
        case 'error':
          options.onError(new Error(message.message));
          return;
        case 'started':
          worker.off('exit', onExit);
          worker.off('error', reject);
          worker.on('error', (error) => options.onError(error));
          worker.on('exit', (code) => {
            // Events wait in the outbox for another relay (or this process's restart).
            if (!stopped)
              options.onError(
                new Error(`the relay thread exited (code ${code}): this process relays no more`),
              );
          });
          resolve({
            get active() {
              return state.active;
            },
            get counts() {
              return state.counts;
            },
            stats: () => outboxStats(options.store, options.clock ?? systemClock),
            stop() {
              stopped ??= new Promise<void>((done) => {
                worker.once('exit', () => done());
                worker.postMessage('stop');
              });
              return stopped;
            },
          });
          return;
        default:
          return;
      }
    });
  });
}

async function runInThread(port: NonNullable<typeof parentPort>, settings: Settings): Promise<void> {
  const post = (message: FromThread) => port.postMessage(message);
  const closers = new Closers((error) =>
    post({ kind: 'error', message: `closing failed: ${String(error)}` }),
  );
  let relay: OutboxRelay;
  try {
    const { store, transport } = await openStoreWithEventLog(settings.config, closers, 'relay', (error) =>
      post({ kind: 'error', message: `idle PostgreSQL connection failed: ${error.message}` }),
    );
    relay = new OutboxRelay({
      store,
      transport,
      eventRetentionMs: settings.eventRetentionMs,
      onError: (error) =>
        post({
          kind: 'error',
          message: `outbox relay round failed: ${error instanceof Error ? error.message : String(error)}`,
        }),
    });
    await relay.start();
    closers.add(() => relay.stop());
  } catch (error) {
    await closers.close();
    post({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
    port.close();
    return;
  }
  let last = '';
  const report = setInterval(() => {
    const status = { active: relay.active, counts: relay.counts };
    const text = JSON.stringify(status);
    if (text !== last) post({ kind: 'status', ...status });
    last = text;
  }, reportIntervalMs);
  post({ kind: 'status', active: relay.active, counts: relay.counts });
  post({ kind: 'started' });
  port.on('message', async (message) => {
    if (message !== 'stop') return;
    clearInterval(report);
    await closers.close();
    post({ kind: 'stopped' });
    port.close();
  });
}

if (!isMainThread && parentPort && (workerData as Settings | undefined)?.eventRetentionMs !== undefined) {
  void runInThread(parentPort, workerData as Settings);
}
