import { sql } from 'kysely';
import type { NewEvent, OutboxWriter } from '../events/outbox.ts';
import type { IdempotencyScope, StoredResponse } from '../idempotency/idempotency.ts';
import { refusedByServer, StatementBatcher } from '../store/postgres/statement-batcher.ts';
import type { Store } from '../store/store.ts';
import type { Payment } from './payment.ts';
import type { Claim, PaymentWrites } from './payment-writes.ts';

export interface PostgresPaymentWritesOptions {
  /** Most payments in one claim or settlement statement; 1 sends each alone. */
  batchMax: number;
  /** Claim (and settlement) statements running at once. */
  maxInFlight: number;
}

interface ClaimItem {
  scope: IdempotencyScope;
  payment: Payment;
}

interface SettleItem {
  before: Payment;
  after: Payment;
  event: NewEvent;
  response: StoredResponse;
}

/**
 * The payment writes as ONE PostgreSQL statement each, using data-modifying CTEs: a statement is
 * atomic like a transaction, but costs one round trip instead of BEGIN, two to three statements and
 * COMMIT. On the payment path that is 2 round trips instead of 9, which is most of the database and
 * driver time per payment. The rows written are the portable version's, built by the same code
 * (OutboxWriter.prepare builds the event row). Anything but the common case falls back to the
 * portable version.
 *
 * Under load, the claims (and the settlements) that arrive while others are running go to the
 * server together, as ONE statement over arrays (`unnest`): group commit, as the SQLite store
 * does it (see StatementBatcher). Each payment's rows and outcome are those it would have alone.
 */
export function postgresPaymentWrites(
  store: Store,
  outbox: OutboxWriter,
  portable: PaymentWrites,
  options: PostgresPaymentWritesOptions,
): PaymentWrites {
  const claims = new StatementBatcher<ClaimItem, boolean>({
    batchMax: options.batchMax,
    maxInFlight: options.maxInFlight,
    keyOf: ({ scope }) => `${scope.merchantId}\u0000${scope.livemode ? 1 : 0}\u0000${scope.key}`,
    retryAlone: refusedByServer,
    async runOne({ scope, payment: p }) {
      // The payment row is inserted only if the key's claim was: both or neither.
      const inserted = await sql<{ id: string }>`
        WITH claim AS (
          INSERT INTO idempotency_records
            (api_key_id, merchant_id, livemode, key, fingerprint, state, resource_id, created_at)
          VALUES (${scope.apiKeyId}, ${scope.merchantId}, ${scope.livemode ? 1 : 0}, ${scope.key},
                  ${scope.fingerprint}, 'in_flight', ${p.id}, ${p.createdAt})
          ON CONFLICT (merchant_id, livemode, key) DO NOTHING
          RETURNING resource_id
        )
        INSERT INTO payments (id, merchant_id, livemode, customer_id, amount, currency, payment_method,
                              description, metadata, receipt_email, statement_descriptor, status,
                              created_at, updated_at)
        SELECT resource_id, ${p.merchantId}::text, ${p.livemode ? 1 : 0}::integer, ${p.customerId}::text,
               ${p.amount.toString()}::bigint, ${p.currency}::text, ${p.paymentMethod}::text,
               ${p.description}::text, ${JSON.stringify(p.metadata)}::text, ${p.receiptEmail}::text,
               ${p.statementDescriptor}::text, 'processing',
               ${p.createdAt}::bigint, ${p.updatedAt}::bigint
        FROM claim
        RETURNING id`.execute(store.db);
      return inserted.rows.length === 1;
    },
    async runMany(items) {
      const column = <T>(f: (item: ClaimItem) => T) => items.map(f);
      // The same rows as runOne, one per item; keys are distinct within a batch (keyOf).
      const inserted = await sql<{ id: string }>`
        WITH input AS (
          SELECT * FROM unnest(
            ${column((i) => i.scope.apiKeyId)}::text[], ${column((i) => i.scope.merchantId)}::text[],
            ${column((i) => (i.scope.livemode ? 1 : 0))}::integer[], ${column((i) => i.scope.key)}::text[],
            ${column((i) => i.scope.fingerprint)}::text[], ${column((i) => i.payment.id)}::text[],
            ${column((i) => i.payment.customerId)}::text[], ${column((i) => i.payment.amount.toString())}::bigint[],
            ${column((i) => i.payment.currency)}::text[], ${column((i) => i.payment.paymentMethod)}::text[],
            ${column((i) => i.payment.description)}::text[],
            ${column((i) => JSON.stringify(i.payment.metadata))}::text[],
            ${column((i) => i.payment.receiptEmail)}::text[], ${column((i) => i.payment.statementDescriptor)}::text[],
            ${column((i) => i.payment.createdAt)}::bigint[], ${column((i) => i.payment.updatedAt)}::bigint[]
          ) WITH ORDINALITY AS t(api_key_id, merchant_id, livemode, key, fingerprint, id, customer_id, amount,
                                 currency, payment_method, description, metadata, receipt_email,
                                 statement_descriptor, created_at, updated_at, ord)
        ), claim AS (
          INSERT INTO idempotency_records
            (api_key_id, merchant_id, livemode, key, fingerprint, state, resource_id, created_at)
          SELECT api_key_id, merchant_id, livemode, key, fingerprint, 'in_flight', id, created_at
          FROM input ORDER BY ord
          ON CONFLICT (merchant_id, livemode, key) DO NOTHING
          RETURNING resource_id
        )
        INSERT INTO payments (id, merchant_id, livemode, customer_id, amount, currency, payment_method,
                              description, metadata, receipt_email, statement_descriptor, status,
                              created_at, updated_at)
        SELECT input.id, merchant_id, livemode, customer_id, amount, currency, payment_method, description,
               metadata, receipt_email, statement_descriptor, 'processing', created_at, updated_at
        FROM input JOIN claim ON claim.resource_id = input.id
        ORDER BY ord
        RETURNING id`.execute(store.db);
      const claimed = new Set(inserted.rows.map((r) => r.id));
      return items.map((i) => claimed.has(i.payment.id));
    },
  });

  const settlements = new StatementBatcher<SettleItem, boolean>({
    batchMax: options.batchMax,
    maxInFlight: options.maxInFlight,
    keyOf: ({ before }) => before.id,
    retryAlone: refusedByServer,
    async runOne({ before, after, event, response }) {
      const { row } = outbox.prepare(event);
      // The event and the stored response are written only if the UPDATE moved the payment.
      const result = await sql<{ settled: number }>`
        WITH settled AS (
          UPDATE payments
          SET status = ${after.status}, gateway_charge_id = ${after.gatewayChargeId},
              failure_code = ${after.failureCode}, failure_message = ${after.failureMessage},
              updated_at = ${after.updatedAt}
          WHERE id = ${before.id} AND status = 'processing' AND updated_at = ${before.updatedAt}
          RETURNING id
        ), event AS (
          INSERT INTO outbox (event_id, type, partition_key, envelope, created_at)
          SELECT ${row.event_id}::text, ${row.type}::text, ${row.partition_key}::text, ${row.envelope}::text,
                 ${row.created_at}::bigint
          FROM settled
        ), response AS (
          UPDATE idempotency_records
          SET state = 'completed', response_status = ${response.status}::integer,
              response_body = ${response.body}::text, completed_at = ${after.updatedAt}::bigint
          WHERE resource_id = ${after.id} AND state = 'in_flight' AND EXISTS (SELECT 1 FROM settled)
        )
        SELECT count(*)::integer AS settled FROM settled`.execute(store.db);
      return Number(result.rows[0]?.settled ?? 0) === 1;
    },
    async runMany(items) {
      const rows = items.map((i) => outbox.prepare(i.event).row);
      const column = <T>(f: (item: SettleItem, index: number) => T) => items.map(f);
      // The same writes as runOne, one set per item; payment ids are distinct within a batch (keyOf).
      const result = await sql<{ id: string }>`
        WITH input AS (
          SELECT * FROM unnest(
            ${column((i) => i.before.id)}::text[], ${column((i) => i.before.updatedAt)}::bigint[],
            ${column((i) => i.after.status)}::text[], ${column((i) => i.after.gatewayChargeId)}::text[],
            ${column((i) => i.after.failureCode)}::text[], ${column((i) => i.after.failureMessage)}::text[],
            ${column((i) => i.after.updatedAt)}::bigint[],
            ${column((_, n) => rows[n]!.event_id)}::text[], ${column((_, n) => rows[n]!.type)}::text[],
            ${column((_, n) => rows[n]!.partition_key)}::text[], ${column((_, n) => rows[n]!.envelope)}::text[],
            ${column((_, n) => rows[n]!.created_at)}::bigint[],
            ${column((i) => i.response.status)}::integer[], ${column((i) => i.response.body)}::text[]
          ) WITH ORDINALITY AS t(id, before_updated_at, status, gateway_charge_id, failure_code, failure_message,
                                 updated_at, event_id, type, partition_key, envelope, event_created_at,
                                 response_status, response_body, ord)
        ), settled AS (
          UPDATE payments p
          SET status = i.status, gateway_charge_id = i.gateway_charge_id, failure_code = i.failure_code,
              failure_message = i.failure_message, updated_at = i.updated_at
          FROM input i
          WHERE p.id = i.id AND p.status = 'processing' AND p.updated_at = i.before_updated_at
          RETURNING p.id
        ), event AS (
          INSERT INTO outbox (event_id, type, partition_key, envelope, created_at)
          SELECT i.event_id, i.type, i.partition_key, i.envelope, i.event_created_at
          FROM input i JOIN settled s ON s.id = i.id
          ORDER BY i.ord
        ), response AS (
          UPDATE idempotency_records r
          SET state = 'completed', response_status = i.response_status, response_body = i.response_body,
              completed_at = i.updated_at
          FROM input i JOIN settled s ON s.id = i.id
          WHERE r.resource_id = i.id AND r.state = 'in_flight'
        )
        SELECT id FROM settled`.execute(store.db);
      const settled = new Set(result.rows.map((r) => r.id));
      return items.map((i) => settled.has(i.before.id));
    },
  });

  return {
    async claim(scope: IdempotencyScope, p: Payment): Promise<Claim> {
      if (await claims.run({ scope, payment: p })) return { kind: 'started' };
      // The key is taken: the portable claim reads it and replays, or answers 409 / 422.
      return portable.claim(scope, p);
    },

    settle(before: Payment, after: Payment, event: NewEvent, response: StoredResponse): Promise<boolean> {
      return settlements.run({ before, after, event, response });
    },

    statements: () => ({ claims: claims.stats, settlements: settlements.stats }),
  };
}
