import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { Database } from '../../store/database.ts';
import { LeaseKeeper } from '../../store/leases/lease.ts';
import type { SubscribeOptions, Subscription, TopicPartition, TransportRecord } from '../transport.ts';
import { AppendSignal } from './append-signal.ts';
import type { EmbeddedTransport } from './embedded-transport.ts';
import { groupLeaseName } from './group-lease.ts';

type CommitPoint = Pick<TransportRecord, 'topic' | 'partition' | 'offset'>;

/**
 * One member of a consumer group on the embedded log. It renews the group's lease every third of
 * its length; while it holds it, it reads from its next offsets, else it stands by. Losing the
 * lease (a stall longer than the lease) drops its positions and reports the revocation, so the
 * member that took over and this one never both believe they are active for long.
 */
export class EmbeddedSubscription implements Subscription {
  readonly #transport: EmbeddedTransport;
  readonly #options: SubscribeOptions;
  readonly #onClosed: () => void;
  readonly #member = randomUUID();
  /** Wakes the iterator when this member's own state changes (lease, pause, close). */
  readonly #stateSignal = new AppendSignal();
  /** The next offset to read per topic; meaningful only while active. */
  readonly #positions = new Map<string, bigint>();
  readonly #lease: LeaseKeeper;
  #active = false;
  /** Bumped at every gain or loss of the lease: a fetch of an older term is dropped. */
  #term = 0;
  #paused = false;
  #closed = false;
  #iterating = false;

  constructor(transport: EmbeddedTransport, options: SubscribeOptions, onClosed: () => void) {
    this.#transport = transport;
    this.#options = options;
    this.#onClosed = onClosed;
    this.#lease = new LeaseKeeper({
      store: transport.store,
      name: groupLeaseName(options.group),
      owner: this.#member,
      leaseMs: transport.groupLeaseMs,
      now: () => transport.clock.now(),
      onGained: () => this.#activate(),
      onLost: () => this.#deactivate(),
    });
  }

  start(): Promise<void> {
    return this.#lease.start();
  }

  async #activate(): Promise<void> {
    const { store } = this.#transport;
    for (const topic of this.#options.topics) {
      const committed = await store.db
        .selectFrom('event_log_offsets')
        .select('next_offset')
        .where('group_name', '=', this.#options.group)
        .where('topic', '=', topic)
        .executeTakeFirst();
      let next: bigint;
      if (committed !== undefined) next = BigInt(committed.next_offset);
      else if (this.#options.startFrom === 'latest') next = await this.#transport.endOffset(store.db, topic);
      else next = 0n;
      this.#positions.set(topic, next);
    }
    this.#active = true;
    this.#term += 1;
    this.#stateSignal.notify();
  }

  #deactivate(): void {
    const revoked = this.assignments();
    this.#active = false;
    this.#term += 1;
    this.#positions.clear();
    this.#stateSignal.notify();
    if (revoked.length > 0) this.#options.onRevoked?.(revoked);
  }

  #canRead(): boolean {
    return this.#active && this.#lease.held && !this.#paused && !this.#closed;
  }

  async #fetch(): Promise<TransportRecord[]> {
    const records: TransportRecord[] = [];
    for (const topic of this.#options.topics) {
      const from = this.#positions.get(topic) ?? 0n;
      const rows = await this.#transport.store.db
        .selectFrom('event_log')
        .select(['offset', 'key', 'headers', 'value', 'appended_at'])
        .where('topic', '=', topic)
        .where('offset', '>=', from.toString())
        .orderBy('offset')
        .limit(this.#transport.fetchBatchMax)
        .execute();
      for (const row of rows) {
        records.push({
          topic,
          partition: 0,
          offset: BigInt(row.offset),
          key: row.key,
          headers: JSON.parse(row.headers) as Record<string, string>,
          value: row.value,
          timestamp: Number(row.appended_at),
        });
      }
    }
    return records;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TransportRecord> {
    if (this.#iterating) throw new Error('a subscription is iterated by one loop at a time');
    this.#iterating = true;
    try {
      while (!this.#closed) {
        const logSeen = this.#transport.signal.sequence;
        const stateSeen = this.#stateSignal.sequence;
        if (this.#canRead()) {
          const term = this.#term;
          const batch = await this.#fetch();
          let yielded = 0;
          for (const record of batch) {
            if (this.#term !== term || !this.#canRead()) break;
            this.#positions.set(record.topic, record.offset + 1n);
            yielded += 1;
            yield record;
          }
          if (yielded > 0) continue;
        }
        const pollMs = this.#transport.pollIntervalMs;
        await Promise.race([
          this.#transport.signal.wait(logSeen, pollMs),
          this.#stateSignal.wait(stateSeen, pollMs),
        ]);
      }
    } finally {
      this.#iterating = false;
    }
  }

  commit(record: CommitPoint): Promise<void> {
    return this.#transport.store.transaction((trx) => this.commitIn(trx, record));
  }

  /** Commits are cumulative and only move forward: a late, lower commit changes nothing. */
  async commitIn(trx: Transaction<Database>, record: CommitPoint): Promise<void> {
    const next = (record.offset + 1n).toString();
    const now = this.#transport.clock.now();
    await trx
      .insertInto('event_log_offsets')
      .values({ group_name: this.#options.group, topic: record.topic, next_offset: next, updated_at: now })
      .onConflict((oc) =>
        oc.columns(['group_name', 'topic']).doUpdateSet({
          next_offset: sql`max(event_log_offsets.next_offset, excluded.next_offset)`,
          updated_at: now,
        }),
      )
      .execute();
  }

  pause(): void {
    this.#paused = true;
    this.#stateSignal.notify();
  }

  resume(): void {
    this.#paused = false;
    this.#stateSignal.notify();
  }

  assignments(): readonly TopicPartition[] {
    return this.#active ? this.#options.topics.map((topic) => ({ topic, partition: 0 })) : [];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#active = false;
    this.#stateSignal.notify();
    await this.#lease.stop();
    this.#onClosed();
  }
}
