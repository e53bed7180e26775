import { randomUUID } from 'node:crypto';
import type { Gateway } from '../gateway/gateway.ts';
import type { Clock } from '../platform/clock.ts';
import { LeaseKeeper } from '../store/leases/lease.ts';
import type { Store } from '../store/store.ts';
import { paymentColumns, paymentFromRow, refundColumns, refundFromRow } from './repository.ts';
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
  /** First wait after a failed or inconclusive attempt; it doubles with each attempt. */
  retryBackoffBaseMs?: number;
  /** Longest wait between two attempts on one item. */
  retryBackoffMaxMs?: number;
  /** In [0, 1): the jitter of each wait (injected so tests and simulations can replay it). */
  random?: () => number;
  /** How long the active reconciler's lease lasts unrenewed: the wait before a standby takes over. */
  leaseMs?: number;
  onError?: (error: unknown) => void;
}

export interface ReconcileReport {
  settled: number;
  resent: number;
  stillUnknown: number;
  /** Items whose settlement threw; each is reported to onError and retried after a backoff. */
  failed: number;
}

/** The lease that makes one process's reconciler the active one. */
export const reconcilerLeaseName = 'reconciler';

/**
 * Finishes payments left `processing` and refunds left `pending` by a lost gateway answer or a
 * crash. It never guesses: it asks the gateway what happened under the payment's idempotency key.
 * If the gateway never saw the request, it sends it again with the SAME key, which the gateway
 * guarantees cannot charge twice. The outcome is then settled by the very code a direct answer
 * uses, so the payment gets exactly one event.
 *
 * An item that fails, or whose outcome the gateway still cannot tell, is tried again after a
 * backoff (doubling, with jitter, capped), recorded on its row; a run takes the items that are
 * due, oldest due first. So broken items, however many, never keep a healthy stuck payment from
 * its turn. Only one process reconciles at a time (a store lease); the others stand by.
 */
export class Reconciler {
  readonly #deps: ReconcilerDeps;
  readonly #batchSizeMax: number;
  readonly #lease: LeaseKeeper;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#batchSizeMax = deps.batchSizeMax ?? 100;
    this.#lease = new LeaseKeeper({
      store: deps.store,
      name: reconcilerLeaseName,
      owner: randomUUID(),
      leaseMs: deps.leaseMs ?? 30_000,
      now: () => deps.clock.now(),
    });
  }

  /** True while this process's reconciler is the one that runs. */
  get active(): boolean {
    return this.#lease.held;
  }

  /** The wait before attempt `attempts + 1` of an item. */
  #backoffMs(attempts: number): number {
    const base = this.#deps.retryBackoffBaseMs ?? 1000;
    const max = this.#deps.retryBackoffMaxMs ?? 600_000;
    const full = Math.min(max, base * 2 ** Math.min(attempts - 1, 30));
    return Math.round(full * (0.5 + 0.5 * (this.#deps.random ?? Math.random)()));
  }

  /** Records a failed or inconclusive attempt. `updated_at` is left alone: settling matches on it. */
  async #postpone(table: 'payments' | 'refunds', id: string, attemptsBefore: number): Promise<void> {
    const attempts = attemptsBefore + 1;
    await this.#deps.store.transaction((trx) =>
      trx
        .updateTable(table)
        .set({
          reconcile_attempts: attempts,
          reconcile_next_at: this.#deps.clock.now() + this.#backoffMs(attempts),
        })
        .where('id', '=', id)
        .execute(),
    );
  }

  async runOnce(): Promise<ReconcileReport> {
    const report: ReconcileReport = { settled: 0, resent: 0, stillUnknown: 0, failed: 0 };
    const { store, gateway, payments } = this.#deps;
    const now = this.#deps.clock.now();
    const cutoff = now - this.#deps.reconcileAfterMs;

    const stuckPayments = await store.db
      .selectFrom('payments')
      .select(paymentColumns)
      .select('reconcile_attempts')
      .where('status', '=', 'processing')
      .where('updated_at', '<', cutoff)
      .where((eb) => eb.or([eb('reconcile_next_at', 'is', null), eb('reconcile_next_at', '<=', now)]))
      .orderBy((eb) => eb.fn.coalesce('reconcile_next_at', 'updated_at'))
      .limit(this.#batchSizeMax)
      .execute();
    for (const row of stuckPayments) {
      const postpone = () => this.#postpone('payments', row.id, Number(row.reconcile_attempts));
      await this.#isolated(report, `payment ${row.id}`, postpone, async () => {
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
          await postpone();
          return;
        }
        await payments.settlePayment(payment, outcome);
        report.settled += 1;
      });
    }

    const stuckRefunds = await store.db
      .selectFrom('refunds')
      .innerJoin('payments', 'payments.id', 'refunds.payment_id')
      .select(refundColumns.map((c) => `refunds.${c}` as const))
      .select(['refunds.reconcile_attempts', 'payments.gateway_charge_id as charge_id'])
      .where('refunds.status', '=', 'pending')
      .where('refunds.updated_at', '<', cutoff)
      .where((eb) =>
        eb.or([eb('refunds.reconcile_next_at', 'is', null), eb('refunds.reconcile_next_at', '<=', now)]),
      )
      .orderBy((eb) => eb.fn.coalesce('refunds.reconcile_next_at', 'refunds.updated_at'))
      .limit(this.#batchSizeMax)
      .execute();
    for (const row of stuckRefunds) {
      const postpone = () => this.#postpone('refunds', row.id, Number(row.reconcile_attempts));
      await this.#isolated(report, `refund ${row.id}`, postpone, async () => {
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
          await postpone();
          return;
        }
        await payments.settleRefund(refund.id, outcome);
        report.settled += 1;
      });
    }
    return report;
  }

  /** One item that cannot be settled must not hold up the others: report it, postpone it, move on. */
  async #isolated(
    report: ReconcileReport,
    what: string,
    postpone: () => Promise<void>,
    fn: () => Promise<void>,
  ): Promise<void> {
    try {
      await fn();
    } catch (error) {
      report.failed += 1;
      this.#deps.onError?.(new Error(`reconciling ${what} failed`, { cause: error }));
      await postpone().catch((e: unknown) => this.#deps.onError?.(e));
    }
  }

  /** Runs now, then every `intervalMs`, one run at a time, while this process holds the lease. */
  async start(intervalMs: number): Promise<void> {
    await this.#lease.start();
    const tick = () => {
      this.#running = (this.#lease.held ? this.runOnce() : Promise.resolve())
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
    await this.#lease.stop();
  }
}
