import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database } from '../store/database.ts';
import { insertTemplate } from '../store/query-template.ts';
import { toBigInt, toNumber } from '../store/store.ts';
import type { Payment, Refund } from './payment.ts';
import type { PaymentTable, RefundTable } from './tables.ts';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * The columns a Payment is read from, named rather than `*`: PostgreSQL runs queries as named
 * prepared statements, and a cached `SELECT *` plan fails on every live connection once a
 * migration adds a column ("cached plan must not change result type").
 */
export const paymentColumns = [
  'id',
  'merchant_id',
  'livemode',
  'customer_id',
  'amount',
  'currency',
  'payment_method',
  'description',
  'metadata',
  'receipt_email',
  'statement_descriptor',
  'status',
  'failure_code',
  'failure_message',
  'gateway_charge_id',
  'amount_refunded',
  'amount_refund_reserved',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof PaymentTable)[];

export const refundColumns = [
  'id',
  'payment_id',
  'merchant_id',
  'amount',
  'currency',
  'reason',
  'metadata',
  'status',
  'failure_reason',
  'gateway_refund_id',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof RefundTable)[];

type PaymentRow = Pick<Selectable<PaymentTable>, (typeof paymentColumns)[number]>;
type RefundRow = Pick<Selectable<RefundTable>, (typeof refundColumns)[number]>;

export function paymentFromRow(row: PaymentRow): Payment {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    livemode: Number(row.livemode) === 1,
    customerId: row.customer_id,
    amount: toBigInt(row.amount),
    currency: row.currency,
    paymentMethod: row.payment_method,
    description: row.description,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    receiptEmail: row.receipt_email,
    statementDescriptor: row.statement_descriptor,
    status: row.status,
    failureCode: row.failure_code,
    failureMessage: row.failure_message,
    gatewayChargeId: row.gateway_charge_id,
    amountRefunded: toBigInt(row.amount_refunded),
    amountRefundReserved: toBigInt(row.amount_refund_reserved),
    createdAt: toNumber(row.created_at),
    updatedAt: toNumber(row.updated_at),
  };
}

export function refundFromRow(row: RefundRow): Refund {
  return {
    id: row.id,
    paymentId: row.payment_id,
    merchantId: row.merchant_id,
    amount: toBigInt(row.amount),
    currency: row.currency,
    reason: row.reason,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    status: row.status,
    failureReason: row.failure_reason,
    gatewayRefundId: row.gateway_refund_id,
    createdAt: toNumber(row.created_at),
    updatedAt: toNumber(row.updated_at),
  };
}

/** The payment's insert, compiled once (the hot path: one per payment). */
const insertPaymentQuery = insertTemplate('payments', paymentColumns);

export async function insertPayment(trx: Transaction<Database>, p: Payment): Promise<void> {
  await insertPaymentQuery.execute(trx, {
    id: p.id,
    merchant_id: p.merchantId,
    livemode: p.livemode ? 1 : 0,
    customer_id: p.customerId,
    amount: p.amount.toString(),
    currency: p.currency,
    payment_method: p.paymentMethod,
    description: p.description,
    metadata: JSON.stringify(p.metadata),
    receipt_email: p.receiptEmail,
    statement_descriptor: p.statementDescriptor,
    status: p.status,
    failure_code: p.failureCode,
    failure_message: p.failureMessage,
    gateway_charge_id: p.gatewayChargeId,
    amount_refunded: p.amountRefunded.toString(),
    amount_refund_reserved: p.amountRefundReserved.toString(),
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  });
}

export async function insertRefund(trx: Transaction<Database>, r: Refund): Promise<void> {
  await trx
    .insertInto('refunds')
    .values({
      id: r.id,
      payment_id: r.paymentId,
      merchant_id: r.merchantId,
      amount: r.amount.toString(),
      currency: r.currency,
      reason: r.reason,
      metadata: JSON.stringify(r.metadata),
      status: r.status,
      failure_reason: r.failureReason,
      gateway_refund_id: r.gatewayRefundId,
      created_at: r.createdAt,
      updated_at: r.updatedAt,
    })
    .execute();
}

export async function findPayment(db: Db, id: string, merchantId?: string): Promise<Payment | undefined> {
  let q = db.selectFrom('payments').select(paymentColumns).where('id', '=', id);
  if (merchantId !== undefined) q = q.where('merchant_id', '=', merchantId);
  const row = await q.executeTakeFirst();
  return row && paymentFromRow(row);
}

export async function findRefund(db: Db, id: string, merchantId?: string): Promise<Refund | undefined> {
  let q = db.selectFrom('refunds').select(refundColumns).where('id', '=', id);
  if (merchantId !== undefined) q = q.where('merchant_id', '=', merchantId);
  const row = await q.executeTakeFirst();
  return row && refundFromRow(row);
}

export interface PaymentFilter {
  merchantId: string;
  customerId?: string | undefined;
  status?: string | undefined;
  createdGte?: number | undefined;
  createdLte?: number | undefined;
  /** Page after this id (lists are newest first). */
  startingAfter?: string | undefined;
  limit: number;
}

/** Newest first; ids are time-ordered, so `id < cursor` is the next page. Fetches one extra row for has_more. */
export async function listPayments(db: Db, f: PaymentFilter): Promise<{ data: Payment[]; hasMore: boolean }> {
  let q = db.selectFrom('payments').select(paymentColumns).where('merchant_id', '=', f.merchantId);
  if (f.customerId !== undefined) q = q.where('customer_id', '=', f.customerId);
  if (f.status !== undefined) q = q.where('status', '=', f.status as Payment['status']);
  if (f.createdGte !== undefined) q = q.where('created_at', '>=', f.createdGte);
  if (f.createdLte !== undefined) q = q.where('created_at', '<=', f.createdLte);
  if (f.startingAfter !== undefined) q = q.where('id', '<', f.startingAfter);
  const rows = await q
    .orderBy('id', 'desc')
    .limit(f.limit + 1)
    .execute();
  return { data: rows.slice(0, f.limit).map(paymentFromRow), hasMore: rows.length > f.limit };
}

export async function listRefundsOfPayment(
  db: Db,
  paymentId: string,
  merchantId: string,
  limit: number,
  startingAfter?: string,
): Promise<{ data: Refund[]; hasMore: boolean }> {
  let q = db
    .selectFrom('refunds')
    .select(refundColumns)
    .where('payment_id', '=', paymentId)
    .where('merchant_id', '=', merchantId);
  if (startingAfter !== undefined) q = q.where('id', '<', startingAfter);
  const rows = await q
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  return { data: rows.slice(0, limit).map(refundFromRow), hasMore: rows.length > limit };
}
