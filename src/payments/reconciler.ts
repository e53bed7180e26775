import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Gateway } from '../gateway/gateway.ts';
import type { Clock } from '../platform/clock.ts';
import type { Database } from '../store/database.ts';
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

/** Defaults of the limits in ReconcilerDeps. */
export const reconcileBatchSizeMax = 100;
export const reconcileBackoffBaseMs = 1000;
export const reconcileBackoffMaxMs = 600_000;
export const reconcileLeaseMs = 30_000;

/**
 * The `processing` payments due for a look, earliest due first. Written to be answered by the
 * partial index `payments_reconcile_due` (payments migration 0003) alone: the status is a literal,
 * not a parameter, so the index's `WHERE status = ...` still applies to a generic PostgreSQL plan of
 * the prepared statement, and both the range and the order are the indexed expression. Otherwise
 * every run would read and sort every stuck row to return the first 100, and be slowest when it
 * matters most: after a gateway outage that left thousands stuck.
 *
 * `coalesce(reconcile_next_at, updated_at) <= now AND updated_at < cutoff` means "never tried and
 * old enough, or tried and due again". A never-tried item ranks by its `updated_at`, so it comes
 * before items that have already failed and fell due about when it did.
 */
export function duePayments(db: Kysely<Database>, now: number, cutoff: number, limit: number) {
  return db
    .selectFrom('payments')
    .select(paymentColumns)
    .select('reconcile_attempts')
    .where('status', '=', sql.lit('processing'))
    .where((eb) => eb(eb.fn.coalesce('reconcile_next_at', 'updated_at'), '<=', now))
    .where('updated_at', '<', cutoff)
    .orderBy((eb) => eb.fn.coalesce('reconcile_next_at', 'updated_at'))
    .limit(limit);
}

/** The `pending` refunds due for a look, as duePayments (index `refunds_reconcile_due`). */
export function dueRefunds(db: Kysely<Database>, now: number, cutoff: number, limit: number) {
  return db
    .selectFrom('refunds')
    .innerJoin('payments', 'payments.id', 'refunds.payment_id')
    .select(refundColumns.map((c) => `refunds.${c}` as const))
    .select(['refunds.reconcile_attempts', 'payments.gateway_charge_id as charge_id'])
    .where('refunds.status', '=', sql.lit('pending'))
    .where((eb) => eb(eb.fn.coalesce('refunds.reconcile_next_at', 'refunds.updated_at'), '<=', now))
    .where('refunds.updated_at', '<', cutoff)
    .orderBy((eb) => eb.fn.coalesce('refunds.reconcile_next_at', 'refunds.updated_at'))
    .limit(limit);
}

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
 * its turn. Once started, only one process reconciles at a time (a store lease); the others stand
 * by, and a holder that loses the lease stops before its next item.
 */
export class Reconciler {
  readonly #deps: ReconcilerDeps;
  readonly #batchSizeMax: number;
  readonly #lease: LeaseKeeper;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  /** Set by start(): from then on every run needs the lease. */
  #leased = false;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#batchSizeMax = deps.batchSizeMax ?? reconcileBatchSizeMax;
    this.#lease = new LeaseKeeper({
      store: deps.store,
      name: reconcilerLeaseName,
      owner: randomUUID(),
      leaseMs: deps.leaseMs ?? reconcileLeaseMs,
      now: () => deps.clock.now(),
    });
  }

  /** True while this process's reconciler is the one that runs. */
  get active(): boolean {
    return this.#lease.held;
  }

  /**
   * Once started, a run acts only while it holds the lease, checked before every item: a run can
   * outlast the lease (100 gateway calls of up to the gateway timeout each), and when a stalled
   * holder's lease has lapsed its successor is already at work. A reconciler that was never started
   * (a test, a one-off run) acts alone by assumption.
   */
  #mayAct(): boolean {
    return !this.#leased || this.#lease.held;
  }

  /** The wait before attempt `attempts + 1` of an item. */
  #backoffMs(attempts: number): number {
    const base = this.#deps.retryBackoffBaseMs ?? reconcileBackoffBaseMs;
    const max = this.#deps.retryBackoffMaxMs ?? reconcileBackoffMaxMs;
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

    if (!this.#mayAct()) return report;
    const stuckPayments = await duePayments(store.db, now, cutoff, this.#batchSizeMax).execute();
    for (const row of stuckPayments) {
      if (!this.#mayAct()) return report;
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

    if (!this.#mayAct()) return report;
    const stuckRefunds = await dueRefunds(store.db, now, cutoff, this.#batchSizeMax).execute();
    for (const row of stuckRefunds) {
      if (!this.#mayAct()) return report;
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
    this.#leased = true;
    await this.#lease.start();
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
    await this.#lease.stop();
  }
}
