import type { TransportRecord } from '../transport/transport.ts';

type Point = Pick<TransportRecord, 'topic' | 'partition' | 'offset'>;

/**
 * Which offset each partition may commit. Records finish out of order (each key is handled on its
 * own, and one may wait for a retry), but a commit is cumulative: it may only move to the last
 * record before the oldest one still unfinished, never past it. Commit points are always offsets
 * of records this member was handed (Kafka commits through the record itself).
 */
export class OffsetTracker {
  readonly #partitions = new Map<string, PartitionState>();

  #state(point: Pick<TransportRecord, 'topic' | 'partition'>): PartitionState {
    const id = `${point.topic}\u0000${point.partition}`;
    let state = this.#partitions.get(id);
    if (!state) {
      state = {
        topic: point.topic,
        partition: point.partition,
        order: [],
        head: 0,
        done: new Set(),
        contiguous: undefined,
        committed: undefined,
      };
      this.#partitions.set(id, state);
    }
    return state;
  }

  /** A record handed out by the subscription, not yet finished. */
  received(record: Point): void {
    const state = this.#state(record);
    const last = state.order[state.order.length - 1];
    if (last !== undefined && record.offset <= last) {
      // Handed out again from further back (the transport restarted its stream from the
      // committed offsets): what was in flight before no longer counts.
      state.order = [];
      state.head = 0;
      state.done.clear();
      state.contiguous = undefined;
    }
    state.order.push(record.offset);
  }

  /** A record finished (applied, skipped or dead-lettered). */
  done(record: Point): void {
    const state = this.#partitions.get(`${record.topic}\u0000${record.partition}`);
    if (!state || state.head >= state.order.length || record.offset < state.order[state.head]!) return;
    state.done.add(record.offset);
    while (state.head < state.order.length && state.done.has(state.order[state.head]!)) {
      const offset = state.order[state.head]!;
      state.done.delete(offset);
      state.contiguous = offset;
      state.head += 1;
    }
    if (state.head > 1024 && state.head * 2 > state.order.length) {
      state.order = state.order.slice(state.head);
      state.head = 0;
    }
  }

  /**
   * The point to commit if `record` were done now (inside its own transaction): the last record
   * of the unbroken run of finished ones it would complete; undefined when it would not move the
   * partition's commit point (an older record is still unfinished).
   */
  commitPointIfDone(record: Point): Point | undefined {
    const state = this.#partitions.get(`${record.topic}\u0000${record.partition}`);
    if (!state || state.order[state.head] !== record.offset) return undefined;
    let upTo = record.offset;
    for (let i = state.head + 1; i < state.order.length && state.done.has(state.order[i]!); i += 1) {
      upTo = state.order[i]!;
    }
    return state.committed === undefined || upTo > state.committed
      ? { topic: state.topic, partition: state.partition, offset: upTo }
      : undefined;
  }

  /** Every partition's commit point that moved past what is committed. */
  due(): Point[] {
    const points: Point[] = [];
    for (const state of this.#partitions.values()) {
      const upTo = state.contiguous;
      if (upTo !== undefined && (state.committed === undefined || upTo > state.committed)) {
        points.push({ topic: state.topic, partition: state.partition, offset: upTo });
      }
    }
    return points;
  }

  /** Records that `point` is committed (by a commit, or inside a handler's transaction). */
  committed(point: Point): void {
    const state = this.#partitions.get(`${point.topic}\u0000${point.partition}`);
    if (state && (state.committed === undefined || point.offset > state.committed))
      state.committed = point.offset;
  }

  /** Forgets partitions taken from this member: their unfinished records go to another member. */
  revoke(partitions: readonly Pick<TransportRecord, 'topic' | 'partition'>[]): void {
    for (const p of partitions) this.#partitions.delete(`${p.topic}\u0000${p.partition}`);
  }
}

interface PartitionState {
  topic: string;
  partition: number;
  /** Offsets handed out, ascending; those before `head` are finished. */
  order: bigint[];
  head: number;
  /** Finished offsets at or after `head`. */
  done: Set<bigint>;
  /** The last offset of the unbroken run of finished records from the start. */
  contiguous: bigint | undefined;
  committed: bigint | undefined;
}
