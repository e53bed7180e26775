import { sql } from 'kysely';
import { OutboxWriter } from '../events/outbox.ts';
import type { ChargeOutcome, Gateway, RefundOutcome } from '../gateway/gateway.ts';
import { beginIdempotency, completeIdempotency, type IdempotencyScope } from '../idempotency/idempotency.ts';
import type { Clock } from '../platform/clock.ts';
import { PaystreamError } from '../platform/errors.ts';
import { faultPoint } from '../platform/faults.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Store } from '../store/store.ts';
import { customerPartitionKey } from './partition-key.ts';
import {
  assertPaymentTransition,
  assertRefundTransition,
  type NewPayment,
  newProcessingPayment,
  type Payment,
  type Refund,
} from './payment.ts';
import { type PaymentWrites, paymentWritesFor, writeBatchMaxDefault } from './payment-writes.ts';
import { paymentEventData, paymentJson, refundEventData, refundJson } from './presenter.ts';
import {
  findPayment,
  findRefund,
  insertRefund,
  paymentColumns,
  paymentFromRow,
  refundColumns,
  refundFromRow,
} from './repository.ts';

/** The authenticated caller: an API key of one merchant. */
export interface Caller {
  apiKeyId: string;
  merchantId: string;
  livemode: boolean;
}

export interface NewRefund {
  amount: bigint | undefined;
  reason: string | null;
  metadata: Record<string, string>;
}

/** What the HTTP layer sends back: a status and a JSON body, possibly replayed from the key's record. */
export interface ApiResponse {
  status: number;
  body: string;
  replayed: boolean;
}

export interface PaymentServiceDeps {
  store: Store;
  gateway: Gateway;
  ids: IdGenerator;
  clock: Clock;
  /** PostgreSQL: most payments whose claims (or settlements) share one statement under load (default 64; 1: each alone). */
  writeBatchMax?: number;
}

/**
 * The payment core. A payment takes two short transactions around the gateway call, never one held
 * open across it:
 *   1. claim the Idempotency-Key and insert the payment as `processing`;
 *   2. ask the gateway to charge, with the payment id as the gateway's idempotency key;
 *   3. in ONE transaction: the payment's final state, its outbox event, and the key's stored response.
 * If the answer is lost (timeout, crash) the payment stays `processing` and the key stays in flight;
 * the reconciler later asks the gateway and runs step 3 exactly as a direct answer would.
 */
export class PaymentService {
  readonly #store: Store;
  readonly #gateway: Gateway;
  readonly #ids: IdGenerator;
  readonly #clock: Clock;
  readonly #outbox: OutboxWriter;
  readonly #writes: PaymentWrites;

  constructor(deps: PaymentServiceDeps) {
    this.#store = deps.store;
    this.#gateway = deps.gateway;
    this.#ids = deps.ids;
    this.#clock = deps.clock;
    this.#outbox = new OutboxWriter(deps.ids, deps.clock);
    this.#writes = paymentWritesFor(deps.store, this.#outbox, deps.writeBatchMax ?? writeBatchMaxDefault);
  }

  async createPayment(caller: Caller, scope: IdempotencyScope, input: NewPayment): Promise<ApiResponse> {
    const payment = newProcessingPayment(this.#ids.resource('pay'), caller, input, this.#clock.now());
    const claim = await this.#writes.claim(scope, payment);
    if (claim.kind === 'replay') return { ...claim.response, replayed: true };

    await faultPoint('before_charge', payment.id);
    const outcome = await this.#gateway.charge({
      idempotencyKey: payment.id,
      amount: payment.amount,
      currency: payment.currency,
      paymentMethod: payment.paymentMethod,
      description: payment.description,
    });
    await faultPoint('after_charge', payment.id);
    if (outcome.status === 'unknown') {
      // Not stored as the key's response: a retry gets 409 until the reconciler knows the outcome.
      return { status: 200, body: JSON.stringify(paymentJson(payment)), replayed: false };
    }
    const settled = await this.settlePayment(payment, outcome);
    return { status: 200, body: JSON.stringify(paymentJson(settled)), replayed: false };
  }

  /**
   * Moves a `processing` payment to its final state with its event and the key's response, in one
   * atomic write. Called after a direct answer and by the reconciler; whichever comes second finds
   * the payment already settled and changes nothing, so the event is written once. `processing` is
   * the payment as last read: the write applies only if the row still is exactly that.
   */
  async settlePayment(processing: Payment, outcome: ChargeOutcome): Promise<Payment> {
    assertPaymentTransition(processing.id, processing.status, outcome.status);
    const after: Payment = {
      ...processing,
      status: outcome.status,
      gatewayChargeId: outcome.chargeId,
      failureCode: outcome.status === 'failed' ? outcome.declineCode : null,
      failureMessage: outcome.status === 'failed' ? outcome.message : null,
      updatedAt: this.#clock.now(),
    };
    const event = {
      type: after.status === 'succeeded' ? ('payment.succeeded' as const) : ('payment.failed' as const),
      subject: after.id,
      partitionKey: customerPartitionKey(after.merchantId, after.customerId),
      data: paymentEventData(after),
    };
    const response = { status: 200, body: JSON.stringify(paymentJson(after)) };
    if (await this.#writes.settle(processing, after, event, response)) return after;
    // The only writers of a processing payment are its two settlers (the request and the
    // reconciler), so a write that matched nothing means the other one settled it: theirs stands.
    const current = await findPayment(this.#store.db, processing.id);
    if (!current) throw new Error(`settlePayment: no payment ${processing.id}`);
    return current;
  }

  async createRefund(
    caller: Caller,
    scope: IdempotencyScope,
    paymentId: string,
    input: NewRefund,
  ): Promise<ApiResponse> {
    const now = this.#clock.now();
    const refundId = this.#ids.resource('re');
    const claim = await this.#store.transaction(async (trx) => {
      const begun = await beginIdempotency(trx, scope, refundId, now);
      if (begun.kind === 'replay') return begun;
      const payment = await findPayment(trx, paymentId, caller.merchantId);
      if (!payment) throw new PaystreamError('PAYSTREAM_NOT_FOUND', `No such payment: ${paymentId}`, 'id');
      if (payment.status !== 'succeeded') {
        throw new PaystreamError(
          'PAYSTREAM_PAYMENT_NOT_REFUNDABLE',
          `Payment ${paymentId} is ${payment.status}; only a succeeded payment can be refunded.`,
        );
      }
      const remaining = payment.amount - payment.amountRefundReserved;
      const amount = input.amount ?? remaining;
      const tooLarge = () =>
        new PaystreamError(
          'PAYSTREAM_REFUND_AMOUNT_TOO_LARGE',
          remaining <= 0n
            ? `Payment ${paymentId} has already been refunded in full.`
            : `Refund amount ${amount} is larger than the ${remaining} left to refund on ${paymentId}.`,
          'amount',
        );
      if (amount <= 0n || amount > remaining) throw tooLarge();
      // Reserve the amount atomically: two concurrent refunds can never both pass this check.
      const reserved = await trx
        .updateTable('payments')
        .set({ amount_refund_reserved: sql`amount_refund_reserved + ${Number(amount)}`, updated_at: now })
        .where('id', '=', paymentId)
        .where('status', '=', 'succeeded')
        .where(sql`amount_refund_reserved + ${Number(amount)}`, '<=', sql.ref('amount'))
        .executeTakeFirst();
      if (Number(reserved.numUpdatedRows) !== 1) throw tooLarge();
      const refund: Refund = {
        id: refundId,
        paymentId,
        merchantId: caller.merchantId,
        amount,
        currency: payment.currency,
        reason: input.reason,
        metadata: input.metadata,
        status: 'pending',
        failureReason: null,
        gatewayRefundId: null,
        createdAt: now,
        updatedAt: now,
      };
      await insertRefund(trx, refund);
      return { kind: 'started' as const, refund, chargeId: payment.gatewayChargeId! };
    });
    if (claim.kind === 'replay') return { ...claim.response, replayed: true };

    const { refund, chargeId } = claim;
    const outcome = await this.#gateway.refund({
      idempotencyKey: refund.id,
      chargeId,
      amount: refund.amount,
      currency: refund.currency,
    });
    if (outcome.status === 'unknown') {
      return { status: 200, body: JSON.stringify(refundJson(refund)), replayed: false };
    }
    const settled = await this.settleRefund(refund.id, outcome);
    return { status: 200, body: JSON.stringify(refundJson(settled)), replayed: false };
  }

  /** Like settlePayment, for a `pending` refund: final state, payment totals, event, key response. */
  async settleRefund(refundId: string, outcome: RefundOutcome): Promise<Refund> {
    assertRefundTransition(refundId, 'pending', outcome.status);
    return this.#store.transaction(async (trx) => {
      const now = this.#clock.now();
      const row = await trx
        .updateTable('refunds')
        .set({
          status: outcome.status,
          gateway_refund_id: outcome.refundId,
          failure_reason: outcome.status === 'failed' ? outcome.reason : null,
          updated_at: now,
        })
        .where('id', '=', refundId)
        .where('status', '=', 'pending')
        .returning(refundColumns)
        .executeTakeFirst();
      if (!row) {
        const current = await findRefund(trx, refundId);
        if (!current) throw new Error(`settleRefund: no refund ${refundId}`);
        return current;
      }
      const next = refundFromRow(row);
      const amount = Number(next.amount);
      // A succeeded refund becomes refunded money; a failed one gives its reservation back.
      const paymentRow = await trx
        .updateTable('payments')
        .set(
          next.status === 'succeeded'
            ? { amount_refunded: sql`amount_refunded + ${amount}`, updated_at: now }
            : { amount_refund_reserved: sql`amount_refund_reserved - ${amount}`, updated_at: now },
        )
        .where('id', '=', next.paymentId)
        .returning(paymentColumns)
        .executeTakeFirstOrThrow();
      const payment = paymentFromRow(paymentRow);
      await this.#outbox.write(trx, {
        type: next.status === 'succeeded' ? 'refund.succeeded' : 'refund.failed',
        subject: next.id,
        partitionKey: customerPartitionKey(payment.merchantId, payment.customerId),
        data: refundEventData(next, payment),
      });
      await completeIdempotency(trx, next.id, { status: 200, body: JSON.stringify(refundJson(next)) }, now);
      return next;
    });
  }
}
