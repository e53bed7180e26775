import { DatabaseSync } from 'node:sqlite';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

/**
 * WAL checkpoints on a thread of their own. SQLite's automatic checkpoint runs inside the COMMIT
 * that pushes the WAL past its threshold, on the writer: it copies the WAL's pages into the
 * database file and fsyncs it, which stops the event loop for tens of milliseconds several times a
 * second under load. Here a second connection on a worker thread runs a PASSIVE checkpoint every
 * `intervalMs` instead: it never takes the write lock (the writer goes on appending to the WAL
 * meanwhile) and waits for nobody. The writer keeps an automatic checkpoint with a much higher
 * threshold, so the WAL stays bounded even if this thread falls behind.
 */
export interface CheckpointerOptions {
  intervalMs: number;
}

interface CheckpointerData {
  kind: 'sqlite-checkpointer';
  file: string;
  intervalMs: number;
}

export class Checkpointer {
  readonly #worker: Worker;
  #closed: Promise<void> | undefined;

  constructor(file: string, options: CheckpointerOptions) {
    const data: CheckpointerData = { kind: 'sqlite-checkpointer', file, intervalMs: options.intervalMs };
    this.#worker = new Worker(new URL(import.meta.url), { workerData: data });
    // A checkpoint is housekeeping: it never keeps the process alive, and an error (a file that
    // went away) only means the writer's own automatic checkpoint takes over.
    this.#worker.unref();
    this.#worker.on('error', () => undefined);
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#worker.ref();
      this.#worker.once('exit', () => resolve());
      this.#worker.postMessage('close');
    });
    return this.#closed;
  }
}

function run(data: CheckpointerData, port: NonNullable<typeof parentPort>): void {
  const db = new DatabaseSync(data.file, { timeout: 0 });
  const timer = setInterval(() => {
    try {
      db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    } catch {
      // Busy (another process checkpoints) or gone: the next tick, or the writer, does it.
    }
  }, data.intervalMs);
  port.on('message', (message) => {
    if (message !== 'close') return;
    clearInterval(timer);
    db.close();
    port.close();
  });
}

if (!isMainThread && parentPort && (workerData as CheckpointerData | null)?.kind === 'sqlite-checkpointer') {
  run(workerData as CheckpointerData, parentPort);
}
