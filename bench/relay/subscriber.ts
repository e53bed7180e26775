/**
 * bench:relay's subscriber, on a thread of its own: it reads the payments topic through the
 * Transport, as a consumer process would, and keeps each event's latency. It must not share an
 * event loop with the load generator: there its reads (synchronous SQLite calls on the embedded
 * log) would delay the generator's requests, and the generator's work would delay its receive
 * times, so the benchmark would measure itself. Its CPU still counts in the bench process's share.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { migrationSets } from '../../src/app/migrations.ts';
import { fromRecord } from '../../src/events/binary-mode.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import { EmbeddedTransport } from '../../src/transport/embedded/embedded-transport.ts';
import { KafkaTransport } from '../../src/transport/kafka/kafka-transport.ts';
import type { Subscription, Transport } from '../../src/transport/transport.ts';

/** Where one mode's paystream keeps its events: the settings its processes get. */
export interface SiteSettings {
  mode: 'embedded' | 'kafka';
  env: Record<string, string>;
}

export function openSiteStore(site: SiteSettings): Store {
  return openStore(loadConfig(site.env), migrationSets);
}

export function openSiteTransport(site: SiteSettings, store: Store): Transport {
  return site.mode === 'embedded'
    ? new EmbeddedTransport({ store, file: loadConfig(site.env).sqlitePath })
    : new KafkaTransport({ brokers: [site.env['PAYSTREAM_KAFKA_BROKERS']!], clientId: 'relay-bench' });
}

/**
 * One event's latency (receive time - ce_time), split at the record's log timestamp (producer
 * create time on Kafka, append time in the embedded log) into the part before the log (commit wait
 * + relay) and the part after it (delivery to the subscriber).
 */
export interface Sample {
  latencyMs: number;
  toLogMs: number;
  fromLogMs: number;
}

type ToThread =
  | { kind: 'received'; id: number }
  | { kind: 'samples'; id: number; subjects: string[]; timeoutMs: number }
  | { kind: 'close' };

type FromThread =
  | { kind: 'ready' }
  | { kind: 'failed'; message: string }
  | { kind: 'reply'; id: number; value: unknown }
  | { kind: 'closed' };

/** The bench's handle on the subscriber thread. */
export class SubscriberThread {
  readonly #worker: Worker;
  readonly #replies = new Map<number, (value: unknown) => void>();
  #next = 0;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (message: FromThread) => {
      if (message.kind !== 'reply') return;
      this.#replies.get(message.id)?.(message.value);
      this.#replies.delete(message.id);
    });
  }

  /** Starts the thread; resolves once its group holds the topic's partitions. */
  static start(site: SiteSettings, group: string): Promise<SubscriberThread> {
    const worker = new Worker(new URL(import.meta.url), { workerData: { site, group } });
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the subscriber thread exited with code ${code}`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.once('message', (message: FromThread) => {
        worker.off('exit', onExit);
        if (message.kind === 'ready') resolve(new SubscriberThread(worker));
        else reject(new Error(`the subscriber did not start: ${(message as { message?: string }).message}`));
      });
    });
  }

  #ask<T>(message: ToThread & { id: number }): Promise<T> {
    return new Promise((resolve) => {
      this.#replies.set(message.id, resolve as (value: unknown) => void);
      this.#worker.postMessage(message);
    });
  }

  /** Records received so far. */
  received(): Promise<number> {
    return this.#ask({ kind: 'received', id: this.#next++ });
  }

  /** The samples of these events (by subject), once all have arrived or `timeoutMs` has passed. */
  samples(subjects: string[], timeoutMs: number): Promise<Sample[]> {
    return this.#ask({ kind: 'samples', id: this.#next++, subjects, timeoutMs });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#worker.once('exit', () => resolve());
      this.#worker.postMessage({ kind: 'close' } satisfies ToThread);
    });
  }
}

async function runThread(site: SiteSettings, group: string): Promise<void> {
  const port = parentPort!;
  const store = openSiteStore(site);
  const transport = openSiteTransport(site, store);
  let subscription: Subscription | undefined;
  try {
    subscription = await transport.subscribe({ group, topics: ['payments'], startFrom: 'latest' });
    // Until the group holds its partitions, 'latest' would skip what is published meanwhile.
    const giveUpAt = Date.now() + 30_000;
    while (subscription.assignments().length === 0) {
      if (Date.now() > giveUpAt) throw new Error('the subscriber got no partition in 30 s');
      await sleep(50);
    }
  } catch (error) {
    port.postMessage({ kind: 'failed', message: String(error) } satisfies FromThread);
    await transport.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    return;
  }
  const samples = new Map<string, Sample>();
  const reading = (async () => {
    let sinceCommit = 0;
    for await (const record of subscription) {
      const now = Date.now();
      const event = fromRecord(record);
      const time = Date.parse(event.time);
      samples.set(event.subject, {
        latencyMs: now - time,
        toLogMs: record.timestamp - time,
        fromLogMs: now - record.timestamp,
      });
      // Commits as a consumer would, every 100 records (a commit per record is the handler's choice).
      if (++sinceCommit >= 100) {
        sinceCommit = 0;
        await subscription.commit(record);
      }
    }
  })();
  port.on('message', async (message: ToThread) => {
    if (message.kind === 'received') {
      port.postMessage({ kind: 'reply', id: message.id, value: samples.size } satisfies FromThread);
    } else if (message.kind === 'samples') {
      const giveUpAt = Date.now() + message.timeoutMs;
      while (message.subjects.some((s) => !samples.has(s)) && Date.now() < giveUpAt) await sleep(50);
      const value = message.subjects.flatMap((s) => samples.get(s) ?? []);
      port.postMessage({ kind: 'reply', id: message.id, value } satisfies FromThread);
    } else {
      await subscription.close();
      await reading.catch(() => undefined);
      await transport.close();
      await store.close();
      // Ends this thread only (in a worker, process.exit stops the thread), whatever handle lingers.
      process.exit(0);
    }
  });
  port.postMessage({ kind: 'ready' } satisfies FromThread);
}

if (!isMainThread && parentPort) {
  const { site, group } = workerData as { site: SiteSettings; group: string };
  void runThread(site, group);
}
