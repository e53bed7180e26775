import type { Subscription, TransportRecord } from '../../src/transport/transport.ts';

/**
 * Reads a subscription with deadlines, keeping ONE iterator for the subscription's whole life: a
 * `next()` still pending when a read times out is kept and answers the following read, so no
 * record is dropped between reads.
 */
export class Reader {
  readonly subscription: Subscription;
  readonly #iterator: AsyncIterator<TransportRecord>;
  #pending: Promise<IteratorResult<TransportRecord>> | undefined;

  constructor(subscription: Subscription) {
    this.subscription = subscription;
    this.#iterator = subscription[Symbol.asyncIterator]();
  }

  /** The next record, or undefined when none comes within `timeoutMs`. */
  async next(timeoutMs: number): Promise<TransportRecord | undefined> {
    this.#pending ??= this.#iterator.next();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([this.#pending, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') return undefined;
    this.#pending = undefined;
    return result.done ? undefined : result.value;
  }

  /** Exactly `count` records, or throws naming how many came within `timeoutMs` in all. */
  async take(count: number, timeoutMs = 10_000): Promise<TransportRecord[]> {
    const giveUpAt = Date.now() + timeoutMs;
    const records: TransportRecord[] = [];
    while (records.length < count) {
      const left = giveUpAt - Date.now();
      const record = left > 0 ? await this.next(left) : undefined;
      if (record === undefined)
        throw new Error(`expected ${count} records within ${timeoutMs} ms, got ${records.length}`);
      records.push(record);
    }
    return records;
  }

  /** Whatever arrives within `ms` (used to check that nothing does). */
  async drain(ms: number): Promise<TransportRecord[]> {
    const giveUpAt = Date.now() + ms;
    const records: TransportRecord[] = [];
    for (;;) {
      const left = giveUpAt - Date.now();
      if (left <= 0) return records;
      const record = await this.next(left);
      if (record === undefined) return records;
      records.push(record);
    }
  }
}
