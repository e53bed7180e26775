import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type Clock, systemClock } from '../platform/clock.ts';
import type { Config } from '../platform/config.ts';
import {
  OutboxRelay,
  outboxStats,
  type RelayCounts,
  type RelayStats,
  type RunningRelay,
} from '../relay/outbox-relay.ts';
import type { Store } from '../store/store.ts';
import { Closers } from './closers.ts';
import { openStoreWithEventLog } from './event-log.ts';

/** The relay thread's connections: one reads and publishes while one moves, one keeps the lease. */
const relayPoolMax = 3;
/** How often the thread reports its state (for /metrics), at most. */
const reportIntervalMs = 200;

interface Settings {
  config: Config;
  eventRetentionMs: number;
}

/** What a relay thread tells the process (a stand-in thread in a test speaks the same). */
export type FromThread =
  | { kind: 'started' }
  | { kind: 'status'; active: boolean; counts: RelayCounts }
  | { kind: 'error'; message: string }
  | { kind: 'failed'; message: string };

export interface RelayThreadOptions {
  config: Config;
  eventRetentionMs: number;
  store: Store;
  clock?: Clock;
  onError: (error: Error) => void;
  /** The module the thread runs (tests give a stand-in); default: this one, running the relay. */
  threadModule?: URL;
  restartDelayMs?: number;
  stopGraceMs?: number;
}

/** A thread that dies on its own (an uncaught error) is started again after this long. */
const restartDelayMs = 1000;
/** How long `stop()` lets the thread finish its round and close before it is terminated. */
const stopGraceMs = 10_000;

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
 *
 * Starts the relay thread, and keeps one running: a thread that dies on its own is reported and
 * started again (its rows wait in the outbox meanwhile; nothing is lost, at worst some are
 * published twice). `stop()` asks the thread to finish and close, and terminates it after a grace
 * period: a shutdown never waits on a broker that does not answer.
 */
export async function startRelayThread(options: RelayThreadOptions): Promise<RunningRelay> {
  const relay = new SupervisedRelayThread(options);
  await relay.spawn();
  return relay;
}

class SupervisedRelayThread implements RunningRelay {
  readonly #options: RelayThreadOptions;
  readonly #settings: Settings;
  #worker: Worker | undefined;
  #exited: Promise<void> = Promise.resolve();
  #active = false;
  /** Counts of the threads that came before the current one, and the current one's. */
  #before: RelayCounts = { published: 0, batches: 0, failedRounds: 0 };
  #current: RelayCounts = { published: 0, batches: 0, failedRounds: 0 };
  #restart: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: RelayThreadOptions) {
    this.#options = options;
    this.#settings = {
      config: { ...options.config, databasePoolMax: relayPoolMax },
      eventRetentionMs: options.eventRetentionMs,
    };
  }

  get active(): boolean {
    return this.#active;
  }

  get counts(): RelayCounts {
    const [a, b] = [this.#before, this.#current];
    return {
      published: a.published + b.published,
      batches: a.batches + b.batches,
      failedRounds: a.failedRounds + b.failedRounds,
    };
  }

  stats(): Promise<RelayStats> {
    return outboxStats(this.#options.store, this.#options.clock ?? systemClock);
  }

  /** Starts a thread; resolves once its relay runs, rejects when it could not start. */
  spawn(): Promise<void> {
    const worker = new Worker(this.#options.threadModule ?? new URL(import.meta.url), {
      workerData: this.#settings,
    });
    this.#worker = worker;
    let started = false;
    this.#exited = new Promise<void>((exited) => {
      worker.once('exit', (code) => {
        this.#worker = undefined;
        this.#active = false;
        this.#before = this.counts;
        this.#current = { published: 0, batches: 0, failedRounds: 0 };
        exited();
        if (!started || this.#stopping) return;
        this.#options.onError(
          new Error(`the relay thread exited (code ${code}); starting another in ${this.#restartDelayMs} ms`),
        );
        this.#scheduleRestart();
      });
    });
    return new Promise<void>((resolve, reject) => {
      worker.on('error', (error) => {
        if (started) this.#options.onError(error);
        else reject(error);
      });
      void this.#exited.then(() => {
        if (!started) reject(new Error('the relay thread exited before its relay started'));
      });
      worker.on('message', (message: FromThread) => {
        switch (message.kind) {
          case 'failed':
            reject(new Error(`the relay thread failed to start: ${message.message}`));
            return;
          case 'status':
            this.#active = message.active;
            this.#current = message.counts;
            return;
          case 'error':
            this.#options.onError(new Error(message.message));
            return;
          case 'started':
            started = true;
            resolve();
            return;
          default:
            return;
        }
      });
    });
  }

  #scheduleRestart(): void {
    this.#restart = setTimeout(() => {
      this.#restart = undefined;
      if (this.#stopping) return;
      this.spawn().catch((error: unknown) => {
        this.#options.onError(error instanceof Error ? error : new Error(String(error)));
        if (!this.#stopping) this.#scheduleRestart();
      });
    }, this.#restartDelayMs);
  }

  get #restartDelayMs(): number {
    return this.#options.restartDelayMs ?? restartDelayMs;
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearTimeout(this.#restart);
      const worker = this.#worker;
      if (!worker) return;
      worker.postMessage('stop');
      const graceMs = this.#options.stopGraceMs ?? stopGraceMs;
      const grace = setTimeout(() => {
        this.#options.onError(new Error(`the relay thread did not stop in ${graceMs} ms: terminated`));
        void worker.terminate();
      }, graceMs);
      await this.#exited;
      clearTimeout(grace);
    })();
    return this.#stopping;
  }
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
      idlePollMs: settings.config.relayLingerMs,
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
    port.close();
  });
}

if (!isMainThread && parentPort && (workerData as Settings | undefined)?.eventRetentionMs !== undefined) {
  void runInThread(parentPort, workerData as Settings);
}
