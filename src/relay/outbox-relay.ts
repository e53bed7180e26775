import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Transaction } from 'kysely';
import { archiveMoves, moveToArchive, purgeEvents } from '../events/archive.ts';
import { toRecord } from '../events/binary-mode.ts';
import { topicOf } from '../events/catalogue.ts';
import type { CloudEvent } from '../events/envelope.ts';
import { type Clock, systemClock } from '../platform/clock.ts';
import type { Database } from '../store/database.ts';
import { LeaseKeeper } from '../store/leases/lease.ts';
import type { Store } from '../store/store.ts';
import type { OutgoingRecord, Transport } from '../transport/transport.ts';

export interface OutboxRelayOptions {
  store: Store;
  transport: Transport;
  clock?: Clock;
  /** Most outbox rows moved per round. */
  batchMax?: number;
  /** Wait between two rounds that found the outbox drained. */
  idlePollMs?: number;
  /** How long the active relay's lease lasts unrenewed: the time a standby waits for a dead one. */
  leaseMs?: number;
  /** How long published events stay in the archive the events API reads (default 30 days). */
  eventRetentionMs?: number;
  /** How often the active relay purges the archive of expired events (default 1 min). */
  purgeIntervalMs?: number;
  onError?: (error: unknown) => void;
}

export const eventRetentionDefaultMs = 30 * 86_400_000;

export interface RelayCounts {
  published: number;
  batches: number;
  failedRounds: number;
}

/** What a running relay tells of itself: whether it is the active one, and its work so far. */
export interface RelayStatus {
  readonly active: boolean;
  /**
   * Since it started: events it published and moved out of the outbox, the batches they went in
   * (published / batches is how well it batches), and rounds that failed.
   */
  readonly counts: RelayCounts;
}

/** A relay this process runs, wherever it runs (on the API's loop, or on a thread of its own). */
export interface RunningRelay extends RelayStatus {
  /** The outbox's backlog and oldest event's age. */
  stats(): Promise<RelayStats>;
  stop(): Promise<void>;
}

export interface RelayStats {
  /** Events written to the outbox and not yet published. */
  backlog: number;
  /** Age of the oldest of them, milliseconds (0 when none). */
  oldestAgeMs: number;
}

/**
 * The outbox's backlog (events written and not yet published) and its oldest event's age. Any
 * process with the store can read it, whichever process runs the relay (the API's /metrics does).
 */
export async function outboxStats(store: Store, clock: Clock = systemClock): Promise<RelayStats> {
  const row = await store.db
    .selectFrom('outbox')
    .select((eb) => [eb.fn.countAll().as('backlog'), eb.fn.min('created_at').as('oldest')])
    .executeTakeFirstOrThrow();
  const oldest = row.oldest === null ? null : Number(row.oldest);
  return {
    backlog: Number(row.backlog),
    oldestAgeMs: oldest === null ? 0 : Math.max(0, clock.now() - oldest),
  };
}

/** The lease that makes one relay process the active one: per-key order needs a single publisher. */
export const relayLeaseName = 'outbox_relay';

type OutboxRow = { position: string | number | bigint; envelope: string };

/**
 * Moves outbox events to the transport, in outbox order, and deletes what it published.
 *
 * - A row whose transaction commits late with a lower position (PostgreSQL allocates positions
 *   before commit) is never skipped: the embedded log's rounds read from the oldest row still in
 *   the outbox; the rounds to Kafka read after the last position read, and check in the same
 *   snapshot for a row at or below it that they have not published, and read from the oldest row
 *   when there is one.
 * - When the log lives in the same store (the embedded log), publishing and deleting are one
 *   transaction: each event is appended exactly once. Otherwise (Kafka) the rows are deleted after
 *   the broker acknowledged them, by the next round's statement, so a crash in between publishes
 *   them again: duplicates with the same event id, which consumers skip. Nothing is ever lost.
 * - Several relay processes may run; a lease makes one of them active, so one customer's events
 *   are never published by two relays at once (which could reorder them).
 * - What it deletes from the outbox it keeps in the events archive (`events`, src/events/archive.ts)
 *   in the same transaction, for the events API; the active relay also purges that archive of
 *   events past their retention.
 */
export class OutboxRelay implements RunningRelay {
  readonly #store: Store;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #batchMax: number;
  readonly #idlePollMs: number;
  readonly #lease: LeaseKeeper;
  readonly #onError: (error: unknown) => void;
  readonly #eventRetentionMs: number;
  readonly #purgeIntervalMs: number;
  #nextPurgeAt = 0;
  #running: Promise<void> | undefined;
  #stopped = false;
  #published = 0;
  #batches = 0;
  #failedRounds = 0;

  constructor(options: OutboxRelayOptions) {
    this.#store = options.store;
    this.#transport = options.transport;
    this.#clock = options.clock ?? systemClock;
    this.#batchMax = options.batchMax ?? 500;
    this.#idlePollMs = options.idlePollMs ?? 10;
    this.#onError = options.onError ?? (() => undefined);
    this.#eventRetentionMs = options.eventRetentionMs ?? eventRetentionDefaultMs;
    this.#purgeIntervalMs = options.purgeIntervalMs ?? 60_000;
    this.#lease = new LeaseKeeper({
      store: options.store,
      name: relayLeaseName,
      owner: randomUUID(),
      leaseMs: options.leaseMs ?? 5000,
      now: () => this.#clock.now(),
    });
  }

  /** True while this relay is the active one. */
  get active(): boolean {
    return this.#lease.held;
  }

  /** Since this relay started: events it published and moved out of the outbox, and rounds that failed. */
  get counts(): RelayCounts {
    return { published: this.#published, batches: this.#batches, failedRounds: this.#failedRounds };
  }

  /** Publishes one round (at most `batchMax` events); returns how many. Needs no lease: for tests and tools. */
  async publishRound(): Promise<number> {
    const publishIn = this.#transport.publishIn?.bind(this.#transport);
    if (publishIn) {
      const moved = await this.#store.transaction(async (trx) => {
        const batch = parse(await this.#oldest(trx));
        for (const [topic, records] of byTopic(batch)) await publishIn(trx, topic, records);
        await this.#moveToArchive(trx, batch);
        return batch.length;
      });
      this.#published += moved;
      if (moved > 0) {
        this.#batches += 1;
        this.#transport.committed?.();
      }
      return moved;
    }
    const batch = parse(await this.#oldest(this.#store.db));
    for (const [topic, records] of byTopic(batch)) await this.#transport.publish(topic, records);
    if (batch.length > 0) {
      await this.#store.transaction((trx) => this.#moveToArchive(trx, batch));
      this.#published += batch.length;
      this.#batches += 1;
    }
    return batch.length;
  }

  /** The oldest rows still in the outbox. */
  #oldest(db: Store['db'] | Transaction<Database>): Promise<OutboxRow[]> {
    return db
      .selectFrom('outbox')
      .select(['position', 'envelope'])
      .orderBy('position')
      .limit(this.#batchMax)
      .execute();
  }

  /**
   * Moves `unmoved` (rows earlier rounds published) out of the outbox, and reads the oldest rows
   * after `after` (all the rows when it is undefined); and, seen by the same snapshot, whether a
   * row at or below `after` is in the outbox that is neither one of `unmoved` nor one of
   * `publishing` (read, and being published now): a row that committed late, below what the
   * rounds have read. On PostgreSQL this is one statement (no transaction of
   * its own: one statement is atomic), so a round costs the store one round trip.
   */
  async #moveAndRead(
    unmoved: readonly OutboxEvent[],
    after: OutboxRow['position'] | undefined,
    publishing: readonly OutboxRow['position'][],
  ): Promise<ForwardRead> {
    const now = this.#clock.now();
    // Positions start at 1: "after 0" is every row, and nothing is at or below it.
    const from = (after ?? 0).toString();
    if (this.#store.dialect === 'postgres') {
      // The statement's SELECT sees the outbox as it was before the move: the moved rows are
      // still there (and all at or below `after`, as are the rows being published). NOT IN a
      // subquery is a hashed lookup; `<> ALL(array)` compared each row with every element (a
      // thousand rows by a thousand under a backlog: 39 ms a statement instead of 1 ms).
      const known = [...unmoved.map((u) => u.position), ...publishing].map(String);
      const query = sql<OutboxRow & { late_below: boolean }>`
        ${unmoved.length > 0 ? sql`WITH ${archiveMoves(unmoved, now)}` : sql``}
        SELECT late.late_below, next.position, next.envelope
        FROM (
          SELECT EXISTS (
            SELECT 1 FROM outbox b WHERE b.position <= ${from}::bigint
              AND b.position NOT IN (SELECT unnest(${known}::bigint[]))
          ) AS late_below
        ) late
        LEFT JOIN LATERAL (
          SELECT position, envelope FROM outbox WHERE position > ${from}::bigint
          ORDER BY position LIMIT ${this.#batchMax}
        ) next ON true
        ORDER BY next.position`;
      const { rows } = await query.execute(this.#store.db);
      return {
        rows: rows.filter((r) => r.position !== null),
        lateBelow: rows.some((r) => r.late_below),
      };
    }
    return this.#store.transaction(async (trx) => {
      await this.#moveToArchive(trx, unmoved);
      const rows = await trx
        .selectFrom('outbox')
        .select(['position', 'envelope'])
        .where('position', '>', from)
        .orderBy('position')
        .limit(this.#batchMax)
        .execute();
      const below = await trx
        .selectFrom('outbox')
        .select('position')
        .where('position', '<=', from)
        .where('position', 'not in', publishing.length > 0 ? publishing.map(String) : ['0'])
        .limit(1)
        .executeTakeFirst();
      return { rows, lateBelow: below !== undefined };
    });
  }

  /** Archives the published rows and removes them from the outbox, in the caller's transaction. */
  #moveToArchive(trx: Transaction<Database>, batch: readonly OutboxEvent[]): Promise<void> {
    return moveToArchive(trx, this.#store.dialect, batch, this.#clock.now());
  }

  stats(): Promise<RelayStats> {
    return outboxStats(this.#store, this.#clock);
  }

  /** Runs until `stop()`: rounds back to back while the outbox is full, a short poll when it is drained. */
  async start(): Promise<void> {
    await this.#lease.start();
    this.#running = this.#loop();
  }

  async #loop(): Promise<void> {
    let failures = 0;
    const rounds = new ForwardRounds();
    let roundStartedAt = 0;
    while (!this.#stopped) {
      if (!this.#lease.held) {
        await this.#flush(rounds).catch(() => undefined);
        await sleep(this.#idlePollMs * 10);
        continue;
      }
      try {
        if (this.#clock.now() >= this.#nextPurgeAt) {
          this.#nextPurgeAt = this.#clock.now() + this.#purgeIntervalMs;
          await purgeEvents(this.#store, this.#clock.now() - this.#eventRetentionMs);
        }
        roundStartedAt = performance.now();
        const moved = this.#transport.publishIn
          ? await this.publishRound()
          : await this.#forwardRound(rounds);
        failures = 0;
        // Short of a full batch, the next round starts `idlePollMs` after this one started: the
        // rounds' rate, and with it the cost of the requests to the store and the broker, stays
        // bounded at any load, while a backlog is read back to back.
        if (moved < this.#batchMax) {
          await sleep(Math.max(1, this.#idlePollMs - (performance.now() - roundStartedAt)));
        }
      } catch (error) {
        // Whatever the failed round published and did not move is read (and published) again.
        await rounds.settle();
        rounds.reset();
        this.#failedRounds += 1;
        this.#onError(error);
        failures += 1;
        // The transport or the store is down: back off (up to 5 s), the events wait in the outbox.
        await sleep(Math.min(5000, this.#idlePollMs * 2 ** Math.min(failures, 12)));
      }
    }
    await this.#flush(rounds).catch(() => undefined);
  }

  /**
   * A round to a transport outside the store (Kafka). Its one statement moves the rows that
   * earlier rounds published out of the outbox and reads the rows after them; it publishes those,
   * and leaves them for a later round to move. Under a backlog (a full batch), the next round's
   * statement runs while this round's batch is published (it moves what was published before).
   * Publishes stay one after the other, in outbox order. A row that committed late, below a
   * position already read, makes the round read from the oldest row instead, so that its
   * customer's later events (which may be in this read, made after it committed) do not go first.
   * A round after a failure or a lost lease reads from the oldest row too.
   */
  async #forwardRound(rounds: ForwardRounds): Promise<number> {
    let read = await (rounds.takePrefetched() ??
      this.#countedMoveAndRead(rounds.takeUnmoved(), rounds.after, []));
    if (read.lateBelow) {
      await this.#moveUnmoved(rounds);
      read = { rows: await this.#oldest(this.#store.db), lateBelow: false };
    }
    const batch = parse(read.rows);
    const last = batch[batch.length - 1]?.position;
    if (last !== undefined && batch.length >= this.#batchMax) {
      const publishing = batch.map((b) => b.position);
      rounds.prefetch(this.#countedMoveAndRead(rounds.takeUnmoved(), last, publishing));
    }
    for (const [topic, records] of byTopic(batch)) await this.#transport.publish(topic, records);
    rounds.published(batch);
    return batch.length;
  }

  /** #moveAndRead, counting what it moved once it has. */
  async #countedMoveAndRead(
    unmoved: readonly OutboxEvent[],
    after: OutboxRow['position'] | undefined,
    publishing: readonly OutboxRow['position'][],
  ): Promise<ForwardRead> {
    const read = await this.#moveAndRead(unmoved, after, publishing);
    if (unmoved.length > 0) {
      this.#published += unmoved.length;
      this.#batches += 1;
    }
    return read;
  }

  /** Moves what earlier rounds published (and no statement is moving) out of the outbox. */
  async #moveUnmoved(rounds: ForwardRounds): Promise<void> {
    const unmoved = rounds.takeUnmoved();
    if (unmoved.length === 0) return;
    await this.#store.transaction((trx) => this.#moveToArchive(trx, unmoved));
    this.#published += unmoved.length;
    this.#batches += 1;
  }

  /** Stopping, or the lease lost: the statement in progress ends, and what was published is moved. */
  async #flush(rounds: ForwardRounds): Promise<void> {
    await rounds.settle();
    try {
      await this.#moveUnmoved(rounds);
    } finally {
      rounds.reset();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
    await this.#lease.stop();
  }
}

/** An outbox row with its envelope parsed once, for the records and for the archive. */
interface OutboxEvent {
  position: OutboxRow['position'];
  envelope: string;
  event: CloudEvent;
}

function parse(rows: readonly OutboxRow[]): OutboxEvent[] {
  return rows.map((row) => ({ ...row, event: JSON.parse(row.envelope) as CloudEvent }));
}

/** The events as records, grouped by topic, each group in outbox order. */
function byTopic(batch: readonly OutboxEvent[]): Map<string, OutgoingRecord[]> {
  const groups = new Map<string, OutgoingRecord[]>();
  for (const { event } of batch) {
    const topic = topicOf(event.type);
    const records = groups.get(topic) ?? [];
    records.push(toRecord(event));
    groups.set(topic, records);
  }
  return groups;
}

interface ForwardRead {
  rows: OutboxRow[];
  lateBelow: boolean;
}

/** What the forward rounds carry from one to the next. */
class ForwardRounds {
  /** Published by earlier rounds, still in the outbox, and no statement is moving them. */
  #unmoved: OutboxEvent[] = [];
  /** The last position read: the next round reads after it (from the oldest row when undefined). */
  after: OutboxRow['position'] | undefined;
  /** The next round's statement, started while this round publishes. */
  #prefetched: Promise<ForwardRead> | undefined;

  /** The unmoved rows, for a statement that moves them: they are no longer this object's. */
  takeUnmoved(): OutboxEvent[] {
    const unmoved = this.#unmoved;
    this.#unmoved = [];
    return unmoved;
  }

  prefetch(read: Promise<ForwardRead>): void {
    // Marked handled here: the round that takes it (or settle()) sees its failure.
    read.catch(() => undefined);
    this.#prefetched = read;
  }

  takePrefetched(): Promise<ForwardRead> | undefined {
    const read = this.#prefetched;
    this.#prefetched = undefined;
    return read;
  }

  published(batch: readonly OutboxEvent[]): void {
    this.#unmoved.push(...batch);
    if (batch.length > 0) this.after = batch[batch.length - 1]!.position;
  }

  /** Waits for a statement in progress (its failure ignored: what it did not move is read again). */
  async settle(): Promise<void> {
    await this.takePrefetched()?.catch(() => undefined);
  }

  /** After a failure: what was not moved is read again, from the oldest row. */
  reset(): void {
    this.#unmoved = [];
    this.after = undefined;
  }
}
