import pg from 'pg';

/**
 * Group commit for single-statement writes on PostgreSQL. Under load, many requests want the same
 * statement at once (a payment's claim, its settlement); each as its own statement costs a round
 * trip, a socket write, an executor start and a commit. The batcher sends the items that arrive
 * while `maxInFlight` batches are already running as ONE statement (`runMany`); an item that finds
 * a free slot goes alone, as before (`runOne`), so a quiet system sees no added latency.
 *
 * A batch that the server refuses (`retryAlone`: a statement error, after which nothing of it
 * was written) is run again item by item, so each item gets its own result or its own error,
 * exactly as alone: one bad row never fails the others. Any other failure (a lost connection,
 * after which the statement may or may not have committed) is every item's failure, as it would
 * have been alone. Items with the same `keyOf` never
 * share a batch: a statement that meets its own row twice (UPDATE ... FROM, ON CONFLICT) has
 * results that are not those of two statements.
 */
export interface StatementBatcherOptions<I, O> {
  runOne: (item: I) => Promise<O>;
  /** One statement for all the items; the results in the items' order. */
  runMany: (items: readonly I[]) => Promise<O[]>;
  keyOf: (item: I) => string;
  /** True for a failure after which nothing of the statement was written. */
  retryAlone: (error: unknown) => boolean;
  /** Most items in one statement. */
  batchMax: number;
  /** Statements of this kind running at once (at most as many pooled connections are used). */
  maxInFlight: number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

export class StatementBatcher<I, O> {
  readonly #options: StatementBatcherOptions<I, O>;
  #queue: Waiting<I, O>[] = [];
  #inFlight = 0;
  #statements = 0;
  #items = 0;

  constructor(options: StatementBatcherOptions<I, O>) {
    this.#options = { ...options, batchMax: Math.max(1, options.batchMax) };
  }

  /** Statements sent (a batch refused and run again item by item counts once) and items run. */
  get stats(): { statements: number; items: number } {
    return { statements: this.#statements, items: this.#items };
  }

  run(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#options.maxInFlight && this.#queue.length > 0) {
      const batch = this.#take();
      this.#inFlight += 1;
      void this.#send(batch).finally(() => {
        this.#inFlight -= 1;
        this.#pump();
      });
    }
  }

  /** The oldest waiting items, at most batchMax, one per key; the others keep their place. */
  #take(): Waiting<I, O>[] {
    const batch: Waiting<I, O>[] = [];
    const keys = new Set<string>();
    const rest: Waiting<I, O>[] = [];
    for (const waiting of this.#queue) {
      const key = this.#options.keyOf(waiting.item);
      if (batch.length < this.#options.batchMax && !keys.has(key)) {
        keys.add(key);
        batch.push(waiting);
      } else {
        rest.push(waiting);
      }
    }
    this.#queue = rest;
    return batch;
  }

  async #send(batch: Waiting<I, O>[]): Promise<void> {
    this.#statements += 1;
    this.#items += batch.length;
    if (batch.length > 1) {
      try {
        const results = await this.#options.runMany(batch.map((w) => w.item));
        for (const [i, w] of batch.entries()) w.resolve(results[i]!);
        return;
      } catch (error) {
        if (!this.#options.retryAlone(error)) {
          for (const w of batch) w.reject(error);
          return;
        }
        // Refused, nothing written: each item again on its own, for its own result or error.
      }
    }
    await Promise.all(batch.map((w) => this.#options.runOne(w.item).then(w.resolve, w.reject)));
  }
}

/**
 * A statement error the server reported (a constraint, a bad value): it rolled the statement
 * back, so nothing of it was written and its items may run again alone. A lost connection is not
 * one: the statement may have committed.
 */
export function refusedByServer(error: unknown): boolean {
  return error instanceof pg.DatabaseError;
}
