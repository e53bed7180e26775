import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createdRangeMs } from '../http/created-filter.ts';
import { errorResponses, idempotencyKeyHeader, listSchema } from '../http/schemas.ts';
import { sendJson } from '../http/server.ts';
import { requestFingerprint } from '../idempotency/fingerprint.ts';
import { checkIdempotencyKey, type IdempotencyScope } from '../idempotency/idempotency.ts';
import { PaystreamError } from '../platform/errors.ts';
import type { Store } from '../store/store.ts';
import { amountMaxFor, currencyExponent } from './currencies.ts';
import { paymentJson, refundJson } from './presenter.ts';
import { findPayment, findRefund, listPayments, listRefundsOfPayment } from './repository.ts';
import {
  type CreatePaymentBody,
  type CreateRefundBody,
  createPaymentBody,
  createRefundBody,
  idParams,
  type ListPaymentsQuery,
  listPaymentsQuery,
  listRefundsQuery,
  paymentSchema,
  refundSchema,
} from './schemas.ts';
import type { PaymentService } from './service.ts';

export interface PaymentRoutesOptions {
  service: PaymentService;
  store: Store;
}

function idempotencyScope(request: FastifyRequest): IdempotencyScope {
  const key = checkIdempotencyKey(request.headers['idempotency-key']);
  const path = request.url.split('?')[0]!;
  return {
    merchantId: request.caller.merchantId,
    livemode: request.caller.livemode,
    apiKeyId: request.caller.apiKeyId,
    key,
    fingerprint: requestFingerprint(request.method, path, request.body),
  };
}

function notFound(kind: string, id: string): PaystreamError {
  return new PaystreamError('PAYSTREAM_NOT_FOUND', `No such ${kind}: ${id}`, 'id');
}

/** /v1/payments and /v1/refunds. Must be registered in a scope that authenticates the caller. */
export async function paymentRoutes(
  app: FastifyInstance,
  { service, store }: PaymentRoutesOptions,
): Promise<void> {
  app.post<{ Body: CreatePaymentBody }>(
    '/v1/payments',
    {
      schema: {
        summary: 'Create a payment: charge the payment method and record the outcome',
        operationId: 'createPayment',
        description:
          'Charges the payment method through the gateway and records the outcome with its event, atomically. Needs an Idempotency-Key: a retry with the same key and body replays the first answer.',
        tags: ['payments'],
        headers: idempotencyKeyHeader,
        body: createPaymentBody,
        response: { 200: paymentSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const currency = body.currency.toLowerCase();
      if (currencyExponent(currency) === undefined) {
        throw new PaystreamError(
          'PAYSTREAM_VALIDATION',
          `Unknown currency: ${body.currency} (ISO 4217)`,
          'currency',
        );
      }
      if (body.amount > amountMaxFor(currency)) {
        throw new PaystreamError(
          'PAYSTREAM_VALIDATION',
          `amount must be at most ${amountMaxFor(currency)} for ${currency}`,
          'amount',
        );
      }
      const scope = idempotencyScope(request);
      const response = await service.createPayment(request.caller, scope, {
        customerId: body.customer_id,
        amount: BigInt(body.amount),
        currency,
        paymentMethod: body.payment_method,
        description: body.description ?? null,
        metadata: body.metadata ?? {},
        receiptEmail: body.receipt_email ?? null,
        statementDescriptor: body.statement_descriptor ?? null,
      });
      return sendJson(reply, response.status, response.body, response.replayed);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/payments/:id',
    {
      schema: {
        summary: 'Retrieve a payment',
        operationId: 'getPayment',
        description: "The payment with this id, if it belongs to the caller's merchant.",
        tags: ['payments'],
        params: idParams,
        response: { 200: paymentSchema, ...errorResponses },
      },
    },
    async (request) => {
      const payment = await findPayment(store.db, request.params.id, request.caller.merchantId);
      if (!payment) throw notFound('payment', request.params.id);
      return paymentJson(payment);
    },
  );

  app.get<{ Querystring: ListPaymentsQuery }>(
    '/v1/payments',
    {
      schema: {
        summary: 'List payments, newest first',
        operationId: 'listPayments',
        description:
          "The merchant's payments, newest first, filtered by customer, status and creation time; page with starting_after.",
        tags: ['payments'],
        querystring: listPaymentsQuery,
        response: { 200: listSchema(paymentSchema), ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      const created = createdRangeMs(q);
      const page = await listPayments(store.db, {
        merchantId: request.caller.merchantId,
        customerId: q.customer_id,
        status: q.status,
        createdGte: created.gte,
        createdLte: created.lte,
        startingAfter: q.starting_after,
        limit: q.limit,
      });
      return { object: 'list', data: page.data.map(paymentJson), has_more: page.hasMore };
    },
  );

  app.post<{ Params: { id: string }; Body: CreateRefundBody | undefined }>(
    '/v1/payments/:id/refunds',
    {
      schema: {
        summary: 'Refund a payment, fully or in part',
        operationId: 'createRefund',
        description:
          'Refunds part or all of what is left to refund on a succeeded payment. Needs an Idempotency-Key.',
        tags: ['refunds'],
        headers: idempotencyKeyHeader,
        params: idParams,
        body: createRefundBody,
        response: { 200: refundSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const scope = idempotencyScope(request);
      const response = await service.createRefund(request.caller, scope, request.params.id, {
        amount: body.amount === undefined ? undefined : BigInt(body.amount),
        reason: body.reason ?? null,
        metadata: body.metadata ?? {},
      });
      return sendJson(reply, response.status, response.body, response.replayed);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit: number; starting_after?: string } }>(
    '/v1/payments/:id/refunds',
    {
      schema: {
        summary: "List a payment's refunds, newest first",
        operationId: 'listRefunds',
        description: 'The refunds of one payment, newest first.',
        tags: ['refunds'],
        params: idParams,
        querystring: listRefundsQuery,
        response: { 200: listSchema(refundSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params;
      const merchantId = request.caller.merchantId;
      if (!(await findPayment(store.db, id, merchantId))) throw notFound('payment', id);
      const page = await listRefundsOfPayment(
        store.db,
        id,
        merchantId,
        request.query.limit,
        request.query.starting_after,
      );
      return { object: 'list', data: page.data.map(refundJson), has_more: page.hasMore };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/refunds/:id',
    {
      schema: {
        summary: 'Retrieve a refund',
        operationId: 'getRefund',
        description: "The refund with this id, if it belongs to the caller's merchant.",
        tags: ['refunds'],
        params: idParams,
        response: { 200: refundSchema, ...errorResponses },
      },
    },
    async (request) => {
      const refund = await findRefund(store.db, request.params.id, request.caller.merchantId);
      if (!refund) throw notFound('refund', request.params.id);
      return refundJson(refund);
    },
  );
}
