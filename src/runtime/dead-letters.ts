import type { Selectable, Transaction } from 'kysely';
import type { Clock } from '../platform/clock.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Database } from '../store/database.ts';
import type { Store } from '../store/store.ts';
import type { TransportRecord } from '../transport/transport.ts';
import type { DeadLetterStatus, DeadLettersTable } from './tables.ts';

export interface DeadLetter {
  id: string;
  consumer: string;
  eventId: string;
  eventType: string;
  partitionKey: string;
  topic: string;
  partition: number;
  offset: bigint;
  headers: Record<string, string>;
  value: string;
  reason: string;
  attempts: number;
  error: string;
  status: DeadLetterStatus;
  discardReason: string | null;
  redrives: number;
  createdAt: number;
  updatedAt: number;
}

export interface DeadLetterFilter {
  consumer?: string | undefined;
  status?: DeadLetterStatus | undefined;
  eventType?: string | undefined;
  /** Dead letters created at or after / before these epoch milliseconds. */
  createdFrom?: number | undefined;
  createdBefore?: number | undefined;
  ids?: readonly string[] | undefined;
}

export interface NewDeadLetter {
  consumer: string;
  eventId: string;
  eventType: string;
  record: Pick<TransportRecord, 'topic' | 'partition' | 'offset' | 'key' | 'headers' | 'value'>;
  reason: string;
  attempts: number;
  error: string;
}

/** How long a redrive claim holds before another worker may take it (its holder died). */
export const redriveClaimMs = 5 * 60_000;

/**
 * The dead-letter store: what consumers gave up on, and the operator's actions on it. A redrive
 * does not run the handler here: it marks the dead letters `redrive_requested`, and a worker that
 * runs their consumer claims them at its redrive rate and hands them to the handler again, inbox
 * included (so an event is applied once even when redriven twice).
 */
export class DeadLetters {
  readonly #store: Store;
  readonly #ids: IdGenerator;
  readonly #clock: Clock;

  constructor(store: Store, ids: IdGenerator, clock: Clock) {
    this.#store = store;
    this.#ids = ids;
    this.#clock = clock;
  }

  /** Records a dead letter, or updates the consumer's existing one for the event (back to pending). */
  async add(letter: NewDeadLetter): Promise<void> {
    const now = this.#clock.now();
    const { record } = letter;
    const error = letter.error.slice(0, 4000);
    await this.#store.transaction((trx) =>
      trx
        .insertInto('runtime_dead_letters')
        .values({
          id: `dl_${this.#ids.uuid()}`,
          consumer: letter.consumer,
          event_id: letter.eventId,
          event_type: letter.eventType,
          partition_key: record.key,
          topic: record.topic,
          partition: record.partition,
          offset: record.offset.toString(),
          headers: JSON.stringify(record.headers),
          value: record.value,
          reason: letter.reason,
          attempts: letter.attempts,
          error,
          status: 'pending',
          discard_reason: null,
          claimed_by: null,
          claimed_at: null,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.columns(['consumer', 'event_id']).doUpdateSet({
            reason: letter.reason,
            attempts: letter.attempts,
            error,
            status: 'pending',
            claimed_by: null,
            claimed_at: null,
            updated_at: now,
          }),
        )
        .execute(),
    );
  }

  /** True when the consumer holds this event as a dead letter not yet redriven or discarded. */
  async isHeld(consumer: string, eventId: string): Promise<boolean> {
    const row = await this.#store.db
      .selectFrom('runtime_dead_letters')
      .select('status')
      .where('consumer', '=', consumer)
      .where('event_id', '=', eventId)
      .executeTakeFirst();
    return row !== undefined && row.status !== 'redriven' && row.status !== 'discarded';
  }

  /** Newest first; `startingAfter` is the id of the last one of the previous page. */
  async list(
    filter: DeadLetterFilter,
    page: { limit: number; startingAfter?: string | undefined },
  ): Promise<DeadLetter[]> {
    let query = this.#filtered(filter).selectAll().orderBy('id', 'desc').limit(page.limit);
    if (page.startingAfter) query = query.where('id', '<', page.startingAfter);
    return (await query.execute()).map(fromRow);
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const row = await this.#store.db
      .selectFrom('runtime_dead_letters')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async count(filter: DeadLetterFilter): Promise<number> {
    const row = await this.#filtered(filter)
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Asks for a redrive of the matching pending dead letters; returns how many were marked. */
  async requestRedrive(filter: DeadLetterFilter): Promise<number> {
    const now = this.#clock.now();
    return this.#store.transaction(async (trx) => {
      const result = await this.#where(trx.updateTable('runtime_dead_letters'), {
        ...filter,
        status: 'pending',
      })
        .set({ status: 'redrive_requested', updated_at: now })
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    });
  }

  /** Discards the matching dead letters that are not yet redriven, with the operator's reason. */
  async discard(filter: DeadLetterFilter, reason: string): Promise<number> {
    const now = this.#clock.now();
    return this.#store.transaction(async (trx) => {
      const result = await this.#where(trx.updateTable('runtime_dead_letters'), filter)
        .where('status', 'in', ['pending', 'redrive_requested'])
        .set({ status: 'discarded', discard_reason: reason, updated_at: now })
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    });
  }

  /**
   * Claims up to `limit` of a consumer's requested redrives for `owner` (and any whose claim has
   * expired: its holder died mid-redrive). Each is claimed by one conditional update, so two
   * workers never redrive the same one at once.
   */
  async claimRedrives(consumer: string, owner: string, limit: number): Promise<DeadLetter[]> {
    const now = this.#clock.now();
    const candidates = await this.#store.db
      .selectFrom('runtime_dead_letters')
      .select('id')
      .where('consumer', '=', consumer)
      .where((eb) =>
        eb.or([
          eb('status', '=', 'redrive_requested'),
          eb.and([eb('status', '=', 'redriving'), eb('claimed_at', '<', now - redriveClaimMs)]),
        ]),
      )
      .orderBy('id')
      .limit(limit)
      .execute();
    const claimed: DeadLetter[] = [];
    for (const { id } of candidates) {
      const row = await this.#store.transaction(async (trx) => {
        const result = await trx
          .updateTable('runtime_dead_letters')
          .set({ status: 'redriving', claimed_by: owner, claimed_at: now, updated_at: now })
          .where('id', '=', id)
          .where((eb) =>
            eb.or([
              eb('status', '=', 'redrive_requested'),
              eb.and([eb('status', '=', 'redriving'), eb('claimed_at', '<', now - redriveClaimMs)]),
            ]),
          )
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) return undefined;
        return trx.selectFrom('runtime_dead_letters').selectAll().where('id', '=', id).executeTakeFirst();
      });
      if (row) claimed.push(fromRow(row));
    }
    return claimed;
  }

  /** Marks a redrive done, inside the handler's transaction: it commits with the handler's writes. */
  async markRedriven(trx: Transaction<Database>, id: string): Promise<void> {
    await trx
      .updateTable('runtime_dead_letters')
      .set((eb) => ({
        status: 'redriven',
        claimed_by: null,
        claimed_at: null,
        redrives: eb('redrives', '+', 1),
        updated_at: this.#clock.now(),
      }))
      .where('id', '=', id)
      .execute();
  }

  /** Gives a claimed redrive back (the worker stops before it ran): requested again. */
  async release(id: string): Promise<void> {
    await this.#store.transaction((trx) =>
      trx
        .updateTable('runtime_dead_letters')
        .set({
          status: 'redrive_requested',
          claimed_by: null,
          claimed_at: null,
          updated_at: this.#clock.now(),
        })
        .where('id', '=', id)
        .where('status', '=', 'redriving')
        .execute(),
    );
  }

  #filtered(filter: DeadLetterFilter) {
    return this.#where(this.#store.db.selectFrom('runtime_dead_letters'), filter);
  }

  // biome-ignore lint/suspicious/noExplicitAny: one filter for select and update builders alike
  #where<Q extends { where: (...args: any[]) => Q }>(query: Q, filter: DeadLetterFilter): Q {
    let q = query;
    if (filter.consumer !== undefined) q = q.where('consumer', '=', filter.consumer);
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    if (filter.eventType !== undefined) q = q.where('event_type', '=', filter.eventType);
    if (filter.createdFrom !== undefined) q = q.where('created_at', '>=', filter.createdFrom);
    if (filter.createdBefore !== undefined) q = q.where('created_at', '<', filter.createdBefore);
    if (filter.ids !== undefined) q = q.where('id', 'in', filter.ids.length > 0 ? [...filter.ids] : ['']);
    return q;
  }
}

function fromRow(row: Selectable<DeadLettersTable>): DeadLetter {
  return {
    id: row.id,
    consumer: row.consumer,
    eventId: row.event_id,
    eventType: row.event_type,
    partitionKey: row.partition_key,
    topic: row.topic,
    partition: Number(row.partition),
    offset: BigInt(row.offset),
    headers: JSON.parse(row.headers) as Record<string, string>,
    value: row.value,
    reason: row.reason,
    attempts: Number(row.attempts),
    error: row.error,
    status: row.status,
    discardReason: row.discard_reason,
    redrives: Number(row.redrives),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
