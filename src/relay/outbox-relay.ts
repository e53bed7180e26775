import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Transaction } from 'kysely';
import { moveToArchive, purgeEvents } from '../events/archive.ts';
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

/** Pipelined rounds (reading after the previous one) before a round reads from the oldest row again. */
const pipelinedRoundsMax = 8;

/** The lease that makes one relay process the active one: per-key order needs a single publisher. */
export const relayLeaseName = 'outbox_relay';

type OutboxRow = { position: string | number | bigint; envelope: string };

/**
 * Moves outbox events to the transport, in outbox order, and deletes what it published.
 *
 * - Reading always starts from the oldest row still in the outbox (never "after the last position
 *   published"), so a row whose transaction commits late with a lower position (PostgreSQL
 *   allocates positions before commit) is simply found in a later round.
 * - When the log lives in the same store (the embedded log), publishing and deleting are one
 *   transaction: each event is appended exactly once. Otherwise (Kafka) the rows are deleted after
 *   the broker acknowledged them, so a crash in between publishes them again: duplicates with the
 *   same event id, which consumers skip. Nothing is ever lost.
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
      if (moved > 0) this.#batches += 1;
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
   * The oldest rows after `after`, and, seen by the same statement (one snapshot), whether a row
   * at or below `after` is in the outbox that is not one of `moving` (the rows of the move in
   * progress, published already): a row that committed late, below what the rounds have read.
   */
  async #after(
    after: OutboxRow['position'],
    moving: readonly OutboxRow['position'][],
  ): Promise<{ rows: OutboxRow[]; lateBelow: boolean }> {
    const rows = await this.#store.db
      .selectFrom('outbox')
      .select((eb) => [
        'position',
        'envelope',
        eb
          .exists(
            eb
              .selectFrom('outbox as below')
              .select('below.position')
              .where('below.position', '<=', after.toString())
              .where('below.position', 'not in', moving.length > 0 ? moving.map(String) : [after.toString()]),
          )
          .as('late_below'),
      ])
      .where('position', '>', after.toString())
      .orderBy('position')
      .limit(this.#batchMax)
      .execute();
    return { rows, lateBelow: rows.some((r) => Boolean(Number(r.late_below))) };
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
    const pipeline = new MovePipeline();
    while (!this.#stopped) {
      if (!this.#lease.held) {
        await pipeline.drain().catch(() => undefined);
        await sleep(this.#idlePollMs * 10);
        continue;
      }
      try {
        if (this.#clock.now() >= this.#nextPurgeAt) {
          this.#nextPurgeAt = this.#clock.now() + this.#purgeIntervalMs;
          await purgeEvents(this.#store, this.#clock.now() - this.#eventRetentionMs);
        }
        const moved = this.#transport.publishIn
          ? await this.publishRound()
          : await this.#pipelinedRound(pipeline);
        failures = 0;
        if (moved < this.#batchMax) {
          await pipeline.drain();
          await sleep(this.#idlePollMs);
        }
      } catch (error) {
        await pipeline.drain().catch(() => undefined);
        this.#failedRounds += 1;
        this.#onError(error);
        failures += 1;
        // The transport or the store is down: back off (up to 5 s), the events wait in the outbox.
        await sleep(Math.min(5000, this.#idlePollMs * 2 ** Math.min(failures, 12)));
      }
    }
    await pipeline.drain().catch(() => undefined);
  }

  /**
   * A round to a transport outside the store (Kafka): while the previous round's rows are being
   * moved out of the outbox (its own transaction), this round reads the rows after them and
   * publishes them. Publishes stay one after the other, in outbox order, and so do moves. A round
   * after an idle wait, a failure or a lost lease reads from the oldest row again, so a row that
   * committed late below a position already read is found then; so does every
   * `pipelinedRoundsMax`-th round, so that a backlog that never lets the relay idle cannot hold such
   * a row back for long.
   */
  async #pipelinedRound(pipeline: MovePipeline): Promise<number> {
    if (pipeline.rounds >= pipelinedRoundsMax) await pipeline.drain();
    let rows: OutboxRow[] | undefined;
    if (pipeline.after !== undefined) {
      const read = await this.#after(pipeline.after, pipeline.moving);
      // A row committed late below the rounds' reads: its customer's later events (which may be
      // in this read, made after it committed) must not go first. From the oldest row, in order.
      if (!read.lateBelow) rows = read.rows;
      else await pipeline.drain();
    }
    const batch = parse(rows ?? (await this.#oldest(this.#store.db)));
    for (const [topic, records] of byTopic(batch)) await this.#transport.publish(topic, records);
    await pipeline.settle();
    if (batch.length > 0) {
      pipeline.start(
        this.#store
          .transaction((trx) => this.#moveToArchive(trx, batch))
          .then(() => {
            this.#published += batch.length;
            this.#batches += 1;
          }),
        batch.map((b) => b.position),
      );
    }
    return batch.length;
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

/** The one move (archive + delete) that may run while the next round reads and publishes. */
class MovePipeline {
  #moving: Promise<void> | undefined;
  /** The last position of the rows being moved: the next round reads after it. */
  after: OutboxRow['position'] | undefined;
  /** The positions of the rows being moved (published, still in the outbox until the move commits). */
  moving: OutboxRow['position'][] = [];
  /** Rounds read after a position since the last read from the oldest row. */
  rounds = 0;

  start(move: Promise<void>, positions: OutboxRow['position'][]): void {
    // Marked handled here; drain() still throws its failure to the loop.
    move.catch(() => undefined);
    this.#moving = move;
    this.moving = positions;
    this.after = positions[positions.length - 1];
    this.rounds += 1;
  }

  /** Waits for the move in progress (its failure is thrown here). */
  async settle(): Promise<void> {
    const moving = this.#moving;
    this.#moving = undefined;
    await moving;
  }

  /** Waits for the move in progress; afterwards rounds read from the oldest row again. */
  async drain(): Promise<void> {
    this.after = undefined;
    this.moving = [];
    this.rounds = 0;
    await this.settle();
  }
}
