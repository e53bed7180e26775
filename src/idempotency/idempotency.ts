import type { Insertable, Transaction } from 'kysely';
import { PaystreamError } from '../platform/errors.ts';
import type { Database } from '../store/database.ts';
import { QueryTemplate } from '../store/query-template.ts';
import type { Store } from '../store/store.ts';
import type { IdempotencyRecordTable } from './tables.ts';

/**
 * Which key a request carries, and whose it is. Keys are scoped per merchant and mode (live/test),
 * as Stripe scopes them per account: every API key of a merchant shares them, so a retry after a
 * key rotation is still recognised, while test and live traffic never collide.
 */
export interface IdempotencyScope {
  merchantId: string;
  livemode: boolean;
  /** The API key that sent it, recorded with the claim. */
  apiKeyId: string;
  key: string;
  fingerprint: string;
}

export interface StoredResponse {
  status: number;
  body: string;
}

export const idempotencyKeyLengthMax = 255;

/** Printable ASCII, 1 to 255 characters; the header is rejected otherwise. */
export function checkIdempotencyKey(header: string | string[] | undefined): string {
  if (header === undefined) {
    throw new PaystreamError(
      'PAYSTREAM_IDEMPOTENCY_KEY_REQUIRED',
      'Every POST needs an Idempotency-Key header (for example a UUID) so that a retry never acts twice.',
    );
  }
  const key = Array.isArray(header) ? header[0] : header;
  if (!key || key.length > idempotencyKeyLengthMax || !/^[\x21-\x7e]+$/.test(key)) {
    throw new PaystreamError(
      'PAYSTREAM_IDEMPOTENCY_KEY_INVALID',
      `The Idempotency-Key must be 1 to ${idempotencyKeyLengthMax} printable ASCII characters without spaces.`,
    );
  }
  return key;
}

/**
 * Claims the key inside the caller's transaction. Returns `started` when this request owns the key
 * (the caller goes on and later calls `completeIdempotency`), or the stored response to replay.
 * Throws 422 when the key was used for another request, 409 while the first is still in flight.
 * The claim, the resource it creates and (later) the response commit with the caller's writes.
 */
/** The claim of a key, compiled once (the hot path: one per POST). */
const claimQuery = new QueryTemplate((db, row: Insertable<IdempotencyRecordTable>) =>
  db
    .insertInto('idempotency_records')
    .values({
      api_key_id: row.api_key_id,
      merchant_id: row.merchant_id,
      livemode: row.livemode,
      key: row.key,
      fingerprint: row.fingerprint,
      state: row.state,
      resource_id: row.resource_id,
      response_status: row.response_status,
      response_body: row.response_body,
      created_at: row.created_at,
      completed_at: row.completed_at,
    })
    .onConflict((oc) => oc.columns(['merchant_id', 'livemode', 'key']).doNothing()),
);

/** The stored response of a claimed key, compiled once. */
const completeQuery = new QueryTemplate(
  (db, p: { resourceId: string; status: number; body: string; now: number }) =>
    db
      .updateTable('idempotency_records')
      .set({
        state: 'completed',
        response_status: p.status,
        response_body: p.body,
        completed_at: p.now,
      })
      .where('resource_id', '=', p.resourceId)
      .where('state', '=', 'in_flight'),
);

export async function beginIdempotency(
  trx: Transaction<Database>,
  scope: IdempotencyScope,
  resourceId: string,
  now: number,
): Promise<{ kind: 'started' } | { kind: 'replay'; response: StoredResponse }> {
  const inserted = await claimQuery.execute(trx, {
    api_key_id: scope.apiKeyId,
    merchant_id: scope.merchantId,
    livemode: scope.livemode ? 1 : 0,
    key: scope.key,
    fingerprint: scope.fingerprint,
    state: 'in_flight',
    resource_id: resourceId,
    response_status: null,
    response_body: null,
    created_at: now,
    completed_at: null,
  });
  if (Number(inserted.numAffectedRows ?? 0n) === 1) return { kind: 'started' };

  const existing = await trx
    .selectFrom('idempotency_records')
    .select(['fingerprint', 'state', 'response_status', 'response_body'])
    .where('merchant_id', '=', scope.merchantId)
    .where('livemode', '=', scope.livemode ? 1 : 0)
    .where('key', '=', scope.key)
    .executeTakeFirstOrThrow();
  if (existing.fingerprint !== scope.fingerprint) {
    throw new PaystreamError(
      'PAYSTREAM_IDEMPOTENCY_MISMATCH',
      'This Idempotency-Key was already used with a different request. Use a new key for a new request.',
    );
  }
  if (
    existing.state === 'in_flight' ||
    existing.response_status === null ||
    existing.response_body === null
  ) {
    throw new PaystreamError(
      'PAYSTREAM_IDEMPOTENCY_IN_FLIGHT',
      'A request with this Idempotency-Key is still being processed. Retry later with the same key.',
    );
  }
  return { kind: 'replay', response: { status: existing.response_status, body: existing.response_body } };
}

/**
 * Stores the final response for the request that created `resourceId`, in the transaction that
 * settles the resource. Only an in-flight record is completed, so a late second settlement is inert.
 */
export async function completeIdempotency(
  trx: Transaction<Database>,
  resourceId: string,
  response: StoredResponse,
  now: number,
): Promise<void> {
  await completeQuery.execute(trx, {
    resourceId,
    status: response.status,
    body: response.body,
    now,
  });
}

/** Most records deleted by one purge transaction: a purge never holds the write lock for long. */
export const purgeBatchSizeMax = 1000;

/** Deletes completed records older than the retention, in bounded batches; returns how many went. */
export async function purgeIdempotencyRecords(store: Store, olderThanMs: number): Promise<number> {
  let total = 0;
  for (;;) {
    const { read, deleted } = await store.transaction(async (trx) => {
      const batch = await trx
        .selectFrom('idempotency_records')
        .select(['merchant_id', 'livemode', 'key'])
        .where('state', '=', 'completed')
        .where('created_at', '<', olderThanMs)
        .limit(purgeBatchSizeMax)
        .execute();
      let deleted = 0;
      for (const record of batch) {
        // The filters again, not the key alone: on PostgreSQL each statement sees what committed
        // before it, so between the read and this delete another process may have purged the record
        // and a client claimed the key afresh. That in-flight claim must stay.
        const result = await trx
          .deleteFrom('idempotency_records')
          .where('merchant_id', '=', record.merchant_id)
          .where('livemode', '=', record.livemode)
          .where('key', '=', record.key)
          .where('state', '=', 'completed')
          .where('created_at', '<', olderThanMs)
          .executeTakeFirst();
        deleted += Number(result.numDeletedRows);
      }
      return { read: batch.length, deleted };
    });
    total += deleted;
    if (read < purgeBatchSizeMax) return total;
  }
}
