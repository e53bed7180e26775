import type { NewEvent, OutboxWriter } from '../events/outbox.ts';
import {
  beginIdempotency,
  completeIdempotency,
  type IdempotencyScope,
  type StoredResponse,
} from '../idempotency/idempotency.ts';
import { QueryTemplate } from '../store/query-template.ts';
import type { Store } from '../store/store.ts';
import type { Payment } from './payment.ts';
import { postgresPaymentWrites } from './postgres-payment-writes.ts';
import { insertPayment } from './repository.ts';

export type Claim = { kind: 'started' } | { kind: 'replay'; response: StoredResponse };

/**
 * The two writes of a payment, each atomic: the claim (Idempotency-Key + the `processing` row) and
 * the settlement (final state + its outbox event + the key's stored response). Every store gets the
 * portable version below; PostgreSQL gets the same writes as single statements (one round trip each
 * instead of four or five), which the same tests check on both dialects.
 */
export interface PaymentWrites {
  /** Claims the key and inserts the payment; replays, or throws 409/422, when the key is taken. */
  claim(scope: IdempotencyScope, payment: Payment): Promise<Claim>;
  /**
   * Moves `before` (a `processing` payment as last read) to `after`, writing `event` and the key's
   * `response` with it. False, and nothing written, when the row is no longer `before`: someone
   * else settled it first, or the snapshot is stale.
   */
  settle(before: Payment, after: Payment, event: NewEvent, response: StoredResponse): Promise<boolean>;
  /** Where writes share statements (PostgreSQL): statements sent and payments they carried. */
  statements?(): Record<'claims' | 'settlements', { statements: number; items: number }>;
}

/** A payment's settlement, compiled once (the hot path: one per payment). */
const settleQuery = new QueryTemplate(
  (
    db,
    p: {
      status: Payment['status'];
      gatewayChargeId: string | null;
      failureCode: string | null;
      failureMessage: string | null;
      updatedAt: number;
      id: string;
      readAt: number;
    },
  ) =>
    db
      .updateTable('payments')
      .set({
        status: p.status,
        gateway_charge_id: p.gatewayChargeId,
        failure_code: p.failureCode,
        failure_message: p.failureMessage,
        updated_at: p.updatedAt,
      })
      .where('id', '=', p.id)
      .where('status', '=', 'processing')
      .where('updated_at', '=', p.readAt),
);

class TransactionalPaymentWrites implements PaymentWrites {
  readonly #store: Store;
  readonly #outbox: OutboxWriter;

  constructor(store: Store, outbox: OutboxWriter) {
    this.#store = store;
    this.#outbox = outbox;
  }

  claim(scope: IdempotencyScope, payment: Payment): Promise<Claim> {
    return this.#store.transaction(async (trx) => {
      const begun = await beginIdempotency(trx, scope, payment.id, payment.createdAt);
      if (begun.kind === 'started') await insertPayment(trx, payment);
      return begun;
    });
  }

  settle(before: Payment, after: Payment, event: NewEvent, response: StoredResponse): Promise<boolean> {
    return this.#store.transaction(async (trx) => {
      const updated = await settleQuery.execute(trx, {
        status: after.status,
        gatewayChargeId: after.gatewayChargeId,
        failureCode: after.failureCode,
        failureMessage: after.failureMessage,
        updatedAt: after.updatedAt,
        id: before.id,
        readAt: before.updatedAt,
      });
      if (Number(updated.numAffectedRows ?? 0n) !== 1) return false;
      await this.#outbox.write(trx, event);
      await completeIdempotency(trx, after.id, response, after.updatedAt);
      return true;
    });
  }
}

export const writeBatchMaxDefault = 64;

/**
 * PostgreSQL: claim (and settlement) statements of this process running at once. Payments that
 * arrive while they run wait and go together in the next one, so payments leave most of the pool
 * to reads, the relay and the reconciler.
 */
export const writeStatementsInFlightMax = 4;

/**
 * The payment writes for the store. On PostgreSQL, up to `batchMax` concurrent claims (and
 * settlements) share a statement (group commit: see StatementBatcher).
 */
export function paymentWritesFor(
  store: Store,
  outbox: OutboxWriter,
  batchMax = writeBatchMaxDefault,
): PaymentWrites {
  const portable = new TransactionalPaymentWrites(store, outbox);
  return store.dialect === 'postgres'
    ? postgresPaymentWrites(store, outbox, portable, { batchMax, maxInFlight: writeStatementsInFlightMax })
    : portable;
}
