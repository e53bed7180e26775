import type { Transaction } from 'kysely';
import { type Clock, systemClock } from '../../platform/clock.ts';
import type { Database } from '../../store/database.ts';
import { leaseHolder } from '../../store/leases/lease.ts';
import type { Store } from '../../store/store.ts';
import type {
  OutgoingRecord,
  PartitionLag,
  Position,
  SubscribeOptions,
  Subscription,
  TopicSpec,
  Transport,
  TransportCapabilities,
} from '../transport.ts';
import { AppendSignal } from './append-signal.ts';
import { EmbeddedSubscription } from './embedded-subscription.ts';
import { groupLeaseName } from './group-lease.ts';

export interface EmbeddedTransportOptions {
  /** A SQLite store: its single writer is what makes offsets follow commit order. */
  store: Store;
  /** The store's file, watched to wake consumers when another process appends. */
  file?: string;
  clock?: Clock;
  /** How long a group member's lease lasts unrenewed: the time a standby waits for a dead member. */
  groupLeaseMs?: number;
  /** The longest a consumer waits without a wake-up before looking again (a safety net, not the mechanism). */
  pollIntervalMs?: number;
  /** Most records a consumer reads per query. */
  fetchBatchMax?: number;
  /** Records older than this are deleted by `prune()` (unset: kept by age). */
  retentionMaxAgeMs?: number;
  /** Only the newest this many records of each topic are kept by `prune()` (unset: no limit). */
  retentionMaxRecords?: number;
  /** How often `prune()` runs on its own; 0 disables the timer. */
  pruneIntervalMs?: number;
}

/** Rows inserted per statement: 6 parameters each, far below SQLite's parameter limit. */
const insertChunkMax = 500;
/** Rows deleted per prune transaction, so retention never holds the writer for long. */
const pruneBatchMax = 5000;

export class TopicNameError extends Error {
  override name = 'TopicNameError';
}

const topicPattern = /^[A-Za-z0-9._-]{1,200}$/;

export function checkTopicName(topic: string): void {
  if (!topicPattern.test(topic)) {
    throw new TopicNameError(`a topic name is 1 to 200 of [A-Za-z0-9._-] (got "${topic}")`);
  }
}

/**
 * The embedded log: the Transport port over the SQLite store itself, for the single-machine mode
 * that runs with no servers. Each topic is one partition whose offsets are the commit order (the
 * store has one writer per file, across processes: BEGIN IMMEDIATE), so order per key holds
 * trivially. Group offsets live in the same database, which lets a consumer commit its offset in
 * the transaction of its own writes. One member of a group is active at a time; the others stand
 * by and take over when its lease lapses.
 */
export class EmbeddedTransport implements Transport {
  readonly engine = 'embedded' as const;
  readonly capabilities: TransportCapabilities = { partitionsShared: false, offsetsInStore: true };
  readonly store: Store;
  readonly clock: Clock;
  readonly signal = new AppendSignal();
  readonly groupLeaseMs: number;
  readonly pollIntervalMs: number;
  readonly fetchBatchMax: number;
  readonly #retentionMaxAgeMs: number | undefined;
  readonly #retentionMaxRecords: number | undefined;
  readonly #subscriptions = new Set<EmbeddedSubscription>();
  #pruneTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: EmbeddedTransportOptions) {
    if (options.store.dialect !== 'sqlite') {
      throw new Error('the embedded log runs on the SQLite store; use Kafka with PostgreSQL');
    }
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.groupLeaseMs = options.groupLeaseMs ?? 5000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.fetchBatchMax = options.fetchBatchMax ?? 500;
    this.#retentionMaxAgeMs = options.retentionMaxAgeMs;
    this.#retentionMaxRecords = options.retentionMaxRecords;
    if (options.file !== undefined) this.signal.watchFile(options.file);
    const pruneIntervalMs = options.pruneIntervalMs ?? 60_000;
    if (
      pruneIntervalMs > 0 &&
      (this.#retentionMaxAgeMs !== undefined || this.#retentionMaxRecords !== undefined)
    ) {
      this.#pruneTimer = setInterval(() => void this.prune().catch(() => undefined), pruneIntervalMs).unref();
    }
  }

  /** Topics need no creation: a topic exists once something is appended to it. */
  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    for (const topic of topics) checkTopicName(topic.name);
  }

  async publish(topic: string, records: readonly OutgoingRecord[]): Promise<void> {
    await this.store.transaction((trx) => this.publishIn(trx, topic, records));
    this.signal.announce();
  }

  committed(): void {
    this.signal.announce();
  }

  /**
   * Appends inside the caller's transaction: the records exist exactly when the caller's own writes
   * commit. (The caller must then call `committed()` after its commit, or consumers find the
   * records at their next poll only.)
   */
  async publishIn(
    trx: Transaction<Database>,
    topic: string,
    records: readonly OutgoingRecord[],
  ): Promise<void> {
    checkTopicName(topic);
    if (records.length === 0) return;
    const now = this.clock.now();
    const current = await trx
      .selectFrom('event_log_topics')
      .select('next_offset')
      .where('topic', '=', topic)
      .executeTakeFirst();
    let offset = current === undefined ? 0n : BigInt(current.next_offset);
    for (let i = 0; i < records.length; i += insertChunkMax) {
      const rows = records.slice(i, i + insertChunkMax).map((r) => ({
        topic,
        offset: (offset++).toString(),
        key: r.key,
        headers: JSON.stringify(r.headers),
        value: r.value,
        appended_at: now,
      }));
      await trx.insertInto('event_log').values(rows).execute();
    }
    await trx
      .insertInto('event_log_topics')
      .values({ topic, next_offset: offset.toString() })
      .onConflict((oc) => oc.column('topic').doUpdateSet({ next_offset: offset.toString() }))
      .execute();
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    if (this.#closed) throw new Error('the transport is closed');
    for (const topic of options.topics) checkTopicName(topic);
    const subscription = new EmbeddedSubscription(this, options, () =>
      this.#subscriptions.delete(subscription),
    );
    this.#subscriptions.add(subscription);
    await subscription.start();
    return subscription;
  }

  async seek(group: string, topic: string, to: Position): Promise<void> {
    checkTopicName(topic);
    await this.store.transaction(async (trx) => {
      if ((await leaseHolder(trx, groupLeaseName(group), this.clock.now())) !== undefined) {
        throw new Error(`group ${group} has an active member: stop it before moving its offsets`);
      }
      const next = await this.#resolve(trx, topic, to);
      await trx
        .insertInto('event_log_offsets')
        .values({ group_name: group, topic, next_offset: next.toString(), updated_at: this.clock.now() })
        .onConflict((oc) =>
          oc
            .columns(['group_name', 'topic'])
            .doUpdateSet({ next_offset: next.toString(), updated_at: this.clock.now() }),
        )
        .execute();
    });
  }

  /** The offset a position names in a topic, as of now. */
  async #resolve(trx: Transaction<Database>, topic: string, to: Position): Promise<bigint> {
    if (to === 'latest') return this.endOffset(trx, topic);
    if (to !== 'earliest' && 'offset' in to) return to.offset;
    return this.#firstOffset(trx, topic, to === 'earliest' ? undefined : to.timestamp);
  }

  /** The first retained offset (appended at or after `since`, when given); the end when there is none. */
  async #firstOffset(
    db: Store['db'] | Transaction<Database>,
    topic: string,
    since?: number,
  ): Promise<bigint> {
    let q = db.selectFrom('event_log').select('offset').where('topic', '=', topic);
    if (since !== undefined) q = q.where('appended_at', '>=', since);
    const first = await q.orderBy('offset').limit(1).executeTakeFirst();
    return first === undefined ? this.endOffset(db, topic) : BigInt(first.offset);
  }

  async endOffset(db: Store['db'] | Transaction<Database>, topic: string): Promise<bigint> {
    const row = await db
      .selectFrom('event_log_topics')
      .select('next_offset')
      .where('topic', '=', topic)
      .executeTakeFirst();
    return row === undefined ? 0n : BigInt(row.next_offset);
  }

  async lag(group: string, topic: string): Promise<PartitionLag[]> {
    checkTopicName(topic);
    const db = this.store.db;
    const end = await this.endOffset(db, topic);
    const committedRow = await db
      .selectFrom('event_log_offsets')
      .select('next_offset')
      .where('group_name', '=', group)
      .where('topic', '=', topic)
      .executeTakeFirst();
    const committed = committedRow === undefined ? null : BigInt(committedRow.next_offset);
    const from = committed ?? (await this.#firstOffset(db, topic));
    const lag = end > from ? end - from : 0n;
    return [{ topic, partition: 0, committed, end, lag }];
  }

  /** Deletes what the retention settings no longer keep, in bounded batches; returns how many went. */
  async prune(): Promise<number> {
    const maxAgeMs = this.#retentionMaxAgeMs;
    const maxRecords = this.#retentionMaxRecords;
    let deleted = 0;
    const topics = await this.store.db
      .selectFrom('event_log_topics')
      .select(['topic', 'next_offset'])
      .execute();
    for (const { topic, next_offset } of topics) {
      for (;;) {
        const n = await this.store.transaction(async (trx) => {
          // Offsets grow with append time, so what goes is always a prefix of the topic.
          const q = trx
            .selectFrom('event_log')
            .select('offset')
            .where('topic', '=', topic)
            .where((eb) => {
              const old = [];
              if (maxAgeMs !== undefined) old.push(eb('appended_at', '<', this.clock.now() - maxAgeMs));
              if (maxRecords !== undefined) {
                old.push(eb('offset', '<', (BigInt(next_offset) - BigInt(maxRecords)).toString()));
              }
              return old.length === 0 ? eb.val(false) : eb.or(old);
            });
          const doomed = await q.orderBy('offset').limit(pruneBatchMax).execute();
          if (doomed.length === 0) return 0;
          const last = doomed[doomed.length - 1]!.offset;
          const result = await trx
            .deleteFrom('event_log')
            .where('topic', '=', topic)
            .where('offset', '<=', last)
            .executeTakeFirst();
          return Number(result.numDeletedRows);
        });
        deleted += n;
        if (n < pruneBatchMax) break;
      }
    }
    return deleted;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pruneTimer);
    await Promise.all([...this.#subscriptions].map((s) => s.close()));
    this.signal.close();
  }
}
