/** What a phase reports, and the sanity checks of the rows it left behind. */

import type { Store } from '../../src/store/store.ts';
import type { DriveResult } from './load.ts';
import { customers } from './options.ts';
import type { VacuumLog } from './postgres.ts';

export type Mode = 'embedded' | 'postgres';

export interface Sanity {
  payments: number;
  succeeded: number;
  processing: number;
  outbox: number;
  idempotencyCompleted: number;
  clientSucceeded: number;
  ok: boolean;
  note: string;
}

export interface PhaseResult {
  mode: Mode;
  phase: 'api' | 'reference';
  /** Concurrent clients (API) or workers (reference). */
  concurrency: number;
  description: string;
  result: DriveResult;
  sanity: Sanity;
  vacuum: VacuumLog | undefined;
  details: Record<string, unknown>;
}

export function sanityOf(
  counts: { payments: number; succeeded: number; processing: number; outbox: number; completed: number },
  clientSucceeded: number,
): Sanity {
  const ok =
    counts.outbox === counts.succeeded &&
    counts.succeeded === clientSucceeded &&
    counts.processing === 0 &&
    counts.completed === counts.payments;
  return {
    payments: counts.payments,
    succeeded: counts.succeeded,
    processing: counts.processing,
    outbox: counts.outbox,
    idempotencyCompleted: counts.completed,
    clientSucceeded,
    ok,
    note: ok
      ? 'events (outbox + embedded log) == succeeded payments == successes seen by the clients; none left processing'
      : 'MISMATCH: see the numbers',
  };
}

export async function countsOfStore(store: Store) {
  const n = async (q: Promise<{ n: string | number | bigint } | undefined>) => Number((await q)?.n ?? 0);
  const db = store.db;
  return {
    payments: await n(
      db
        .selectFrom('payments')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst(),
    ),
    succeeded: await n(
      db
        .selectFrom('payments')
        .where('status', '=', 'succeeded')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst(),
    ),
    processing: await n(
      db
        .selectFrom('payments')
        .where('status', '=', 'processing')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst(),
    ),
    // Events written: still in the outbox, or already relayed to the embedded log.
    outbox:
      (await n(
        db
          .selectFrom('outbox')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirst(),
      )) +
      (await n(
        db
          .selectFrom('event_log')
          .where('topic', '=', 'payments')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirst(),
      )),
    completed: await n(
      db
        .selectFrom('idempotency_records')
        .where('state', '=', 'completed')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst(),
    ),
  };
}

export function paymentBody(i: number): string {
  return JSON.stringify({
    customer_id: `cus_bench_${i % customers}`,
    amount: 100 + (i % 9900),
    currency: 'usd',
    payment_method: 'pm_card_visa',
    description: 'bench payment',
    metadata: { order: `ord_${i}` },
  });
}
