import type { Transaction } from 'kysely';
import { migrationSets } from '../../../src/app/migrations.ts';
import { toRecord } from '../../../src/events/binary-mode.ts';
import { readEvent } from '../../../src/events/catalogue.ts';
import { type CloudEvent, dataschemaFor } from '../../../src/events/envelope.ts';
import { IdGenerator } from '../../../src/platform/ids.ts';
import { silentLogger } from '../../../src/platform/logger.ts';
import type { Emit, HandlerContext } from '../../../src/runtime/consumer.ts';
import { receiptsMigrations } from '../../../src/services/receipts/migrations.ts';
import type { Database } from '../../../src/store/database.ts';
import { openStore } from '../../../src/store/open.ts';
import type { Store } from '../../../src/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../support/dialects.ts';

export const ids = new IdGenerator();

/** A fresh store of the dialect with the core's tables and the receipts service's. */
export async function receiptsStore(
  dialect: 'sqlite' | 'postgres',
): Promise<{ db: TestDatabase; store: Store }> {
  const db = await createTestDatabase(dialect);
  const store = openStore({ databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 4 }, [
    // The composition root may list the service's set already (once it is wired): once is enough.
    ...migrationSets.filter((set) => set.name !== receiptsMigrations.name),
    receiptsMigrations,
  ]);
  await store.migrate();
  return { db, store };
}

export const merchantA = `acct_${'A'.repeat(26)}`;
export const merchantB = `acct_${'B'.repeat(26)}`;

function envelope(type: string, version: number, subject: string, data: Record<string, unknown>): CloudEvent {
  return {
    specversion: '1.0',
    id: ids.uuid(),
    source: type.startsWith('refund') ? '/paystream/refunds' : '/paystream/payments',
    type,
    subject,
    time: '2026-11-24T20:18:24.512Z',
    datacontenttype: 'application/json',
    dataschema: dataschemaFor(type, version),
    partitionkey: `${data['merchant_id']}/${data['customer_id']}`,
    data,
  };
}

/** A payment.succeeded v2 event; `fields` override its data. */
export function paymentSucceeded(fields: Record<string, unknown> = {}): CloudEvent {
  const paymentId = ids.resource('pay');
  const data = {
    payment_id: paymentId,
    merchant_id: merchantA,
    customer_id: 'cus_ada',
    amount: 2500,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    description: 'Blue mug',
    metadata: {},
    livemode: false,
    created: 1_795_551_504,
    gateway_charge_id: 'ch_1',
    receipt_email: 'ada@example.com',
    statement_descriptor: 'ADA MUGS',
    ...fields,
  };
  return envelope('payment.succeeded', 2, String(data.payment_id), data);
}

/** A refund.succeeded v2 event of a payment; `fields` override its data. */
export function refundSucceeded(fields: Record<string, unknown> = {}): CloudEvent {
  const refundId = ids.resource('re');
  const data = {
    refund_id: refundId,
    payment_id: ids.resource('pay'),
    merchant_id: merchantA,
    customer_id: 'cus_ada',
    amount: 1000,
    currency: 'usd',
    reason: null,
    metadata: {},
    payment_amount: 2500,
    created: 1_795_552_540,
    payment_amount_refunded: 1000,
    receipt_email: 'ada@example.com',
    statement_descriptor: 'ADA MUGS',
    ...fields,
  };
  return envelope('refund.succeeded', 2, refundId, data);
}

/** An event as an older writer wrote it: v1, without the receipt fields. */
export function asV1(event: CloudEvent): CloudEvent {
  const {
    receipt_email: _email,
    statement_descriptor: _descriptor,
    ...data
  } = event.data as Record<string, unknown>;
  return { ...event, dataschema: dataschemaFor(event.type, 1), data };
}

/**
 * The smallest honest HandlerContext until the runtime's runner lands: the event read as the
 * runtime reads it (readEvent), `effect` runs its work (no breaker), `transaction` is one store
 * transaction. `failTransaction` makes it throw before writing, as a crash after the effect would.
 */
export function handlerContext(
  store: Store,
  event: CloudEvent,
  options: { signal?: AbortSignal; attempt?: number; failTransaction?: boolean } = {},
): HandlerContext & { effects: string[]; transactions: number } {
  const signal = options.signal ?? AbortSignal.timeout(20_000);
  const ctx = {
    consumer: 'receipts',
    event: readEvent(event),
    record: { ...toRecord(event), topic: 'payments', partition: 0, offset: 0n, timestamp: Date.now() },
    attempt: options.attempt ?? 1,
    signal,
    dryRun: false,
    log: silentLogger,
    effects: [] as string[],
    transactions: 0,
    async effect<T>(provider: string, description: string, run: (signal: AbortSignal) => Promise<T>) {
      ctx.effects.push(`${provider}: ${description}`);
      return run(signal);
    },
    async transaction<T>(work: (trx: Transaction<Database>, emit: Emit) => Promise<T>): Promise<T> {
      ctx.transactions += 1;
      if (options.failTransaction) throw new Error('crash before the transaction (simulated)');
      return store.transaction((trx) =>
        work(trx, async () => {
          throw new Error('the receipts consumer emits no events');
        }),
      );
    },
  };
  return ctx;
}
