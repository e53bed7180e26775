/**
 * Per-key parking: a key (the partition key: a merchant's customer) has at most one event in
 * progress; the events that come for it meanwhile wait behind it, in order, while every other key
 * flows. The runner (runner.ts) handles a key's queue from its head, one event after the other: an
 * event waiting for a retry holds its customer's later events back, and nobody else's.
 */
export class Parking<T> {
  readonly #queues = new Map<string, T[]>();

  /**
   * Puts `item` behind its key's queue. Returns the queue when the key had none, so the caller
   * starts handling it (and calls `leave` once it is empty); undefined when it waits behind others.
   */
  enter(key: string, item: T): T[] | undefined {
    const queue = this.#queues.get(key);
    if (queue) {
      queue.push(item);
      return undefined;
    }
    const fresh = [item];
    this.#queues.set(key, fresh);
    return fresh;
  }

  /** The key's queue is done with (empty, or given up): the next item for it starts a new one. */
  leave(key: string): void {
    this.#queues.delete(key);
  }

  /**
   * Takes out the waiting items (never a queue's head, which is in progress) that `drop` selects,
   * and returns them: the records of partitions this member lost go to their new owner.
   */
  dropWaiting(drop: (item: T) => boolean): T[] {
    const dropped: T[] = [];
    for (const queue of this.#queues.values()) {
      for (let i = queue.length - 1; i >= 1; i -= 1) {
        if (drop(queue[i]!)) dropped.push(...queue.splice(i, 1));
      }
    }
    return dropped;
  }

  /** Keys with an event in progress. */
  get keys(): number {
    return this.#queues.size;
  }
}
