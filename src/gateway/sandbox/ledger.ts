import { createHash } from 'node:crypto';
import { type Selectable, sql } from 'kysely';
import { type Clock, systemClock } from '../../platform/clock.ts';
import { IdGenerator } from '../../platform/ids.ts';
import { type Store, toNumber } from '../../store/store.ts';
import { idempotencyMismatch, SandboxApiError } from './errors.ts';
import type { SandboxChargeTable, SandboxDatabase, SandboxRefundTable } from './schema.ts';
import { testCardFor } from './test-cards.ts';

export type ChargeRow = Selectable<SandboxChargeTable>;
export type RefundRow = Selectable<SandboxRefundTable>;

export interface ChargeParams {
  idempotencyKey: string;
  amount: number;
  currency: string;
  paymentMethod: string;
  description: string | null;
}

export interface RefundParams {
  idempotencyKey: string;
  chargeId: string;
  amount: number;
  /** Optional on the wire; when given it must be the charge's. */
  currency: string | null;
}

/** A stored row, and whether THIS call created it (false: a replay of an earlier call's result). */
export interface Recorded<Row> {
  row: Row;
  created: boolean;
}

/**
 * The sandbox's durable book of charges and refunds. Every result is committed (fsync) before the
 * method returns, so an answer is never sent for something the sandbox could forget, and a key
 * always maps to the first result stored under it.
 */
export class SandboxLedger {
  readonly #store: Store<SandboxDatabase>;
  readonly #ids: IdGenerator;
  readonly #clock: Clock;

  constructor(store: Store<SandboxDatabase>, clock: Clock = systemClock) {
    this.#store = store;
    this.#clock = clock;
    this.#ids = new IdGenerator(clock);
  }

  async charge(params: ChargeParams): Promise<Recorded<ChargeRow>> {
    const card = testCardFor(params.paymentMethod);
    const fingerprint = fingerprintOf([
      params.amount,
      params.currency,
      params.paymentMethod,
      params.description,
    ]);
    const id = this.#ids.resource('ch');
    // Insert-or-ignore, then read back: concurrent requests with one key all see the one row that
    // won, whichever it was, and no second charge can exist.
    const row = await this.#store.transaction(async (trx) => {
      await trx
        .insertInto('charges')
        .values({
          id,
          idempotency_key: params.idempotencyKey,
          fingerprint,
          amount: params.amount,
          currency: params.currency,
          payment_method: params.paymentMethod,
          description: params.description,
          status: card.status,
          decline_code: card.status === 'failed' ? card.declineCode : null,
          failure_message: card.status === 'failed' ? card.message : null,
          amount_refunded: 0,
          created_at: this.#clock.now(),
        })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .execute();
      return trx
        .selectFrom('charges')
        .selectAll()
        .where('idempotency_key', '=', params.idempotencyKey)
        .executeTakeFirstOrThrow();
    });
    if (row.fingerprint !== fingerprint) throw idempotencyMismatch(params.idempotencyKey);
    return { row, created: row.id === id };
  }

  findCharge(idempotencyKey: string): Promise<ChargeRow | undefined> {
    return this.#store.db
      .selectFrom('charges')
      .selectAll()
      .where('idempotency_key', '=', idempotencyKey)
      .executeTakeFirst();
  }

  async refund(params: RefundParams): Promise<Recorded<RefundRow>> {
    const fingerprint = fingerprintOf([params.chargeId, params.amount, params.currency]);
    const id = this.#ids.resource('gre');
    // Check-then-write is safe here: SQLite transactions start with BEGIN IMMEDIATE and the group
    // commit runs them one at a time, so no other writer sees the charge between the read and the
    // update. The UNIQUE key and the CHECK on amount_refunded are the backstops.
    const recorded = await this.#store.transaction(async (trx): Promise<Recorded<RefundRow>> => {
      const existing = await trx
        .selectFrom('refunds')
        .selectAll()
        .where('idempotency_key', '=', params.idempotencyKey)
        .executeTakeFirst();
      if (existing) return { row: existing, created: false };

      const charge = await trx
        .selectFrom('charges')
        .selectAll()
        .where('id', '=', params.chargeId)
        .executeTakeFirst();
      if (!charge)
        throw new SandboxApiError(404, 'not_found', `No such charge: '${params.chargeId}'.`, 'charge');
      if (params.currency !== null && params.currency !== charge.currency) {
        throw new SandboxApiError(
          400,
          'currency_mismatch',
          `The refund's currency '${params.currency}' is not the charge's '${charge.currency}'.`,
          'currency',
        );
      }
      const failureReason = refundFailure(charge, params.amount);
      const row: RefundRow = {
        id,
        idempotency_key: params.idempotencyKey,
        fingerprint,
        charge_id: charge.id,
        amount: params.amount,
        currency: charge.currency,
        status: failureReason === null ? 'succeeded' : 'failed',
        failure_reason: failureReason,
        created_at: this.#clock.now(),
      };
      await trx.insertInto('refunds').values(row).execute();
      if (failureReason === null) {
        await trx
          .updateTable('charges')
          .set({ amount_refunded: sql`amount_refunded + ${params.amount}` })
          .where('id', '=', charge.id)
          .execute();
      }
      return { row, created: true };
    });
    if (recorded.row.fingerprint !== fingerprint) throw idempotencyMismatch(params.idempotencyKey);
    return recorded;
  }

  findRefund(idempotencyKey: string): Promise<RefundRow | undefined> {
    return this.#store.db
      .selectFrom('refunds')
      .selectAll()
      .where('idempotency_key', '=', idempotencyKey)
      .executeTakeFirst();
  }
}

/** Why a refund of `amount` on `charge` is refused, or null when it goes through. */
function refundFailure(charge: ChargeRow, amount: number): string | null {
  // A declined charge moved no money: there is nothing to give back.
  if (charge.status !== 'succeeded') return 'charge_not_succeeded';
  const remaining = toNumber(charge.amount) - toNumber(charge.amount_refunded);
  return amount > remaining ? 'amount_exceeds_charge' : null;
}

function fingerprintOf(parameters: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parameters)).digest('hex');
}
