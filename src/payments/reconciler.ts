import type { Gateway } from '../gateway/gateway.ts';
import type { Clock } from '../platform/clock.ts';
import type { Store } from '../store/store.ts';
import { paymentFromRow, refundFromRow } from './repository.ts';
import type { PaymentService } from './service.ts';

export interface ReconcilerDeps {
  store: Store;
  gateway: Gateway;
  payments: PaymentService;
  clock: Clock;
  /** Only payments and refunds untouched for this long are looked at (longer than the gateway timeout). */
  reconcileAfterMs: number;
  /** Most payments (and, separately, refunds) settled per run. */
  batchSizeMax?: number;
  onError?: (error: unknown) => void;
}

export interface ReconcileReport {
  settled: number;
  resent: number;
  stillUnknown: number;
  /** Items whose settlement threw; each is reported to onError and retried next run. */
  failed: number;
}

/**
 * Finishes payments left `processing` and refunds left `pending` by a lost gateway answer or a
 * crash. It never guesses: it asks the gateway what happened under the payment's idempotency key.
 * If the gateway never saw the request, it sends it again with the SAME key, which the gateway
 * guarantees cannot charge twice. The outcome is then settled by the very code a direct answer
 * uses, so the payment gets exactly one event.
 */
export class Reconciler {
  readonly #deps: ReconcilerDeps;
  readonly #batchSizeMax: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#batchSizeMax = deps.batchSizeMax ?? 100;
  }

  async runOnce(): Promise<ReconcileReport> {
    const report: ReconcileReport = { settled: 0, resent: 0, stillUnknown: 0, failed: 0 };
    const { store, gateway, payments } = this.#deps;
    const cutoff = this.#deps.clock.now() - this.#deps.reconcileAfterMs;

    const stuckPayments = await store.db
      .selectFrom('payments')
      .selectAll()
      .where('status', '=', 'processing')
      .where('updated_at', '<', cutoff)
      .orderBy('updated_at')
      .limit(this.#batchSizeMax)
      .execute();
    for (const row of stuckPayments) {
      await this.#isolated(report, `payment ${row.id}`, async () => {
        const payment = paymentFromRow(row);
        let outcome = await gateway.findCharge(payment.id);
        if (outcome.status === 'not_found') {
          report.resent += 1;
          outcome = await gateway.charge({
            idempotencyKey: payment.id,
            amount: payment.amount,
            currency: payment.currency,
            paymentMethod: payment.paymentMethod,
            description: payment.description,
          });
        }
        if (outcome.status === 'unknown') {
          report.stillUnknown += 1;
          return;
        }
        await payments.settlePayment(payment, outcome);
        report.settled += 1;
      });
    }

    const stuckRefunds = await store.db
      .selectFrom('refunds')
      .innerJoin('payments', 'payments.id', 'refunds.payment_id')
      .selectAll('refunds')
      .select('payments.gateway_charge_id as charge_id')
      .where('refunds.status', '=', 'pending')
      .where('refunds.updated_at', '<', cutoff)
      .orderBy('refunds.updated_at')
      .limit(this.#batchSizeMax)
      .execute();
    for (const row of stuckRefunds) {
      await this.#isolated(report, `refund ${row.id}`, async () => {
        const refund = refundFromRow(row);
        let outcome = await gateway.findRefund(refund.id);
        if (outcome.status === 'not_found') {
          report.resent += 1;
          outcome = await gateway.refund({
            idempotencyKey: refund.id,
            chargeId: row.charge_id ?? '',
            amount: refund.amount,
            currency: refund.currency,
          });
        }
        if (outcome.status === 'unknown') {
          report.stillUnknown += 1;
          return;
        }
        await payments.settleRefund(refund.id, outcome);
        report.settled += 1;
      });
    }
    return report;
  }

  /** One item that cannot be settled must not hold up the others behind it: report it, move on. */
  async #isolated(report: ReconcileReport, what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      report.failed += 1;
      this.#deps.onError?.(new Error(`reconciling ${what} failed`, { cause: error }));
    }
  }

  /** Runs now, then every `intervalMs`, one run at a time. */
  start(intervalMs: number): void {
    const tick = () => {
      this.#running = this.runOnce()
        .catch((error) => this.#deps.onError?.(error))
        .finally(() => {
          this.#running = undefined;
          if (this.#timer !== undefined) this.#timer = setTimeout(tick, intervalMs).unref();
        });
    };
    this.#timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
