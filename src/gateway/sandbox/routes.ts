import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HeldAnswers } from './held-answers.ts';
import type { SandboxLedger } from './ledger.ts';
import { testCardFor } from './test-cards.ts';
import { chargeJson, refundJson } from './wire.ts';

export interface RouteDeps {
  ledger: SandboxLedger;
  held: HeldAnswers;
  /** Delay of the first answer for `pm_card_paystream_slow`. */
  slowMs: number;
  /** Hold of the first answer for `pm_card_paystream_timeout`. */
  holdMs: number;
}

/** Amounts travel as JSON numbers: keep them exact. */
const amountSchema = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const currencySchema = { type: 'string', pattern: '^[a-z]{3}$' } as const;

const idempotencyHeaders = {
  type: 'object',
  required: ['idempotency-key'],
  properties: {
    'idempotency-key': { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x20-\\x7e]+$' },
  },
} as const;

const byKeyQuery = {
  type: 'object',
  required: ['idempotency_key'],
  additionalProperties: false,
  properties: { idempotency_key: { type: 'string', minLength: 1, maxLength: 255 } },
} as const;

interface KeyHeaders {
  'idempotency-key': string;
}

interface ByKey {
  Querystring: { idempotency_key: string };
}

export function registerSandboxRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { ledger, held } = deps;

  app.post<{
    Headers: KeyHeaders;
    Body: { amount: number; currency: string; payment_method: string; description?: string | null };
  }>(
    '/v1/charges',
    {
      schema: {
        headers: idempotencyHeaders,
        body: {
          type: 'object',
          required: ['amount', 'currency', 'payment_method'],
          additionalProperties: false,
          properties: {
            amount: amountSchema,
            currency: currencySchema,
            payment_method: { type: 'string', minLength: 1, maxLength: 255 },
            description: { type: ['string', 'null'], maxLength: 1000 },
          },
        },
      },
    },
    async (request, reply) => {
      const { row, created } = await ledger.charge({
        idempotencyKey: request.headers['idempotency-key'],
        amount: request.body.amount,
        currency: request.body.currency,
        paymentMethod: request.body.payment_method,
        description: request.body.description ?? null,
      });
      // The charge is already committed; only the FIRST answer misbehaves, replays are immediate.
      if (created) {
        const { delivery } = testCardFor(row.payment_method);
        if (delivery === 'drop') return dropConnection(request, reply);
        const delayMs = delivery === 'slow' ? deps.slowMs : delivery === 'hold' ? deps.holdMs : 0;
        if (delayMs > 0 && !(await held.wait(delayMs, reply.raw))) return dropConnection(request, reply);
      }
      return chargeJson(row);
    },
  );

  app.get<ByKey>('/v1/charges', { schema: { querystring: byKeyQuery } }, async (request, reply) => {
    const row = await ledger.findCharge(request.query.idempotency_key);
    if (!row) return reply.code(404).send(notFound('charge', request.query.idempotency_key));
    return chargeJson(row);
  });

  app.post<{ Headers: KeyHeaders; Body: { charge: string; amount: number; currency?: string } }>(
    '/v1/refunds',
    {
      schema: {
        headers: idempotencyHeaders,
        body: {
          type: 'object',
          required: ['charge', 'amount'],
          additionalProperties: false,
          properties: {
            charge: { type: 'string', minLength: 1, maxLength: 255 },
            amount: amountSchema,
            currency: currencySchema,
          },
        },
      },
    },
    async (request) => {
      const { row } = await ledger.refund({
        idempotencyKey: request.headers['idempotency-key'],
        chargeId: request.body.charge,
        amount: request.body.amount,
        currency: request.body.currency ?? null,
      });
      return refundJson(row);
    },
  );

  app.get<ByKey>('/v1/refunds', { schema: { querystring: byKeyQuery } }, async (request, reply) => {
    const row = await ledger.findRefund(request.query.idempotency_key);
    if (!row) return reply.code(404).send(notFound('refund', request.query.idempotency_key));
    return refundJson(row);
  });
}

function notFound(object: 'charge' | 'refund', key: string) {
  return {
    error: {
      code: 'not_found',
      message: `No ${object} with idempotency key '${key}'.`,
      param: 'idempotency_key',
    },
  };
}

/** End the exchange with no answer at all, as a failing network would. */
function dropConnection(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.hijack();
  request.raw.socket.destroy();
  return reply;
}
