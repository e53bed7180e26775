import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Transaction } from 'kysely';
import { requireApiKey } from '../http/auth.ts';
import {
  type CreatedFilterQuery,
  createdFilterProperties,
  createdRangeMs,
  unixSecondsMax,
} from '../http/created-filter.ts';
import { errorResponses, idempotencyKeyHeader, listSchema } from '../http/schemas.ts';
import { sendJson } from '../http/server.ts';
import { requestFingerprint } from '../idempotency/fingerprint.ts';
import { beginIdempotency, checkIdempotencyKey, completeIdempotency } from '../idempotency/idempotency.ts';
import type { Clock } from '../platform/clock.ts';
import { PaystreamError } from '../platform/errors.ts';
import type { IdGenerator } from '../platform/ids.ts';
import { consumerNamePattern } from '../runtime/consumer.ts';
import { type DeadLetterFilter, DeadLetters } from '../runtime/dead-letters.ts';
import type { DeadLetterStatus } from '../runtime/tables.ts';
import type { Database } from '../store/database.ts';
import type { Store } from '../store/store.ts';
import type { Transport } from '../transport/transport.ts';
import type { ApiKeys } from './api-keys.ts';
import { type ConsumerDirectory, consumerStatuses, type RunningConsumers } from './consumers.ts';
import {
  deadLetterIdPattern,
  deadLetterJson,
  deadLetterSchema,
  deadLetterStatuses,
} from './dead-letter-json.ts';
import { requireRole } from './roles.ts';

/**
 * What the admin API reads besides the store. The API is built before the event log and the
 * consumers start, so the composition root fills `transport` and `running` in once they do.
 */
export interface AdminRuntime {
  transport: Transport | undefined;
  running: RunningConsumers | undefined;
  readonly directory: ConsumerDirectory;
}

export interface AdminRoutesOptions {
  store: Store;
  apiKeys: ApiKeys;
  ids: IdGenerator;
  clock: Clock;
  runtime: AdminRuntime;
}

const adminErrors = { ...errorResponses, 403: { $ref: 'Error#' } } as const;

const consumerName = { type: 'string', pattern: consumerNamePattern.source } as const;
const eventType = {
  type: 'string',
  maxLength: 100,
  pattern: '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*$',
  description: 'An event type, such as `payment.succeeded`.',
} as const;

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    consumer: consumerName,
    status: { type: 'string', enum: deadLetterStatuses },
    type: eventType,
    ...createdFilterProperties,
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
    starting_after: {
      type: 'string',
      pattern: deadLetterIdPattern,
      description: 'The last id of the previous page.',
    },
  },
} as const;

interface ListQuery extends CreatedFilterQuery {
  consumer?: string;
  status?: DeadLetterStatus;
  type?: string;
  limit: number;
  starting_after?: string;
}

const unixSeconds = { type: 'integer', minimum: 0, maximum: unixSecondsMax } as const;

/** Which dead letters an action takes: exactly one of `ids`, `filter`, `all`. */
const selectionProperties = {
  ids: {
    type: 'array',
    minItems: 1,
    maxItems: 100,
    items: { type: 'string', pattern: deadLetterIdPattern },
    description: 'These dead letters (1 to 100 ids).',
  },
  filter: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    description: 'The dead letters matching every condition given (at least one).',
    properties: {
      consumer: consumerName,
      type: eventType,
      created: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        description: 'Unix seconds; gte and lte inclusive, gt and lt exclusive.',
        properties: { gte: unixSeconds, gt: unixSeconds, lte: unixSeconds, lt: unixSeconds },
      },
    },
  },
  all: { type: 'boolean', enum: [true], description: 'Every dead letter.' },
} as const;

interface Selection {
  ids?: string[];
  filter?: {
    consumer?: string;
    type?: string;
    created?: { gte?: number; gt?: number; lte?: number; lt?: number };
  };
  all?: true;
}

const redriveBody = { type: 'object', additionalProperties: false, properties: selectionProperties } as const;
const discardBody = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: {
    ...selectionProperties,
    reason: {
      type: 'string',
      minLength: 1,
      maxLength: 500,
      pattern: '\\S',
      description: 'Why they are discarded (kept with each).',
    },
  },
} as const;

const actionSchema = (object: string, count: string, what: string) =>
  ({
    type: 'object',
    required: ['object', count],
    properties: {
      object: { type: 'string', enum: [object] },
      [count]: { type: 'integer', description: what },
    },
  }) as const;

const partitionLagSchema = {
  type: 'object',
  required: ['topic', 'partition', 'committed', 'end', 'lag'],
  properties: {
    topic: { type: 'string' },
    partition: { type: 'integer' },
    committed: { type: ['integer', 'null'], description: 'The group’s next offset; null: never committed.' },
    end: { type: 'integer', description: 'The offset the next record will get.' },
    lag: { type: 'integer' },
  },
} as const;

const consumerSchema = {
  type: 'object',
  required: [
    'object',
    'name',
    'group',
    'topics',
    'running_here',
    'paused',
    'in_flight',
    'lag',
    'breakers',
    'counts',
    'dead_letters',
  ],
  properties: {
    object: { type: 'string', enum: ['consumer'] },
    name: { type: 'string' },
    group: { type: 'string' },
    topics: { type: 'array', items: { type: 'string' } },
    running_here: { type: 'boolean', description: 'Whether the process that answers runs it.' },
    paused: { type: ['boolean', 'null'], description: 'Null when it does not run here.' },
    in_flight: { type: ['integer', 'null'] },
    lag: {
      type: ['object', 'null'],
      description: 'Null without an event log.',
      required: ['events', 'seconds', 'partitions'],
      properties: {
        events: { type: 'integer' },
        seconds: { type: ['number', 'null'], description: 'Null when it does not run here.' },
        partitions: { type: 'array', items: partitionLagSchema },
      },
    },
    breakers: {
      type: 'object',
      additionalProperties: { type: 'string', enum: ['closed', 'open', 'half-open'] },
      description: 'Its providers’ circuit breakers in this process.',
    },
    counts: {
      type: ['object', 'null'],
      description: 'Since this process started; null when it does not run here.',
      required: ['processed', 'skipped', 'failed', 'dead_lettered'],
      properties: {
        processed: { type: 'integer' },
        skipped: { type: 'integer' },
        failed: { type: 'integer', description: 'Failed attempts (each retry counts).' },
        dead_lettered: { type: 'integer' },
      },
    },
    dead_letters: {
      type: 'object',
      required: ['pending', 'redrive_requested'],
      properties: { pending: { type: 'integer' }, redrive_requested: { type: 'integer' } },
    },
  },
} as const;

/** A Store whose writes all go to `trx`: the dead-letter store's action commits with its idempotency record. */
function storeIn(store: Store, trx: Transaction<Database>): Store {
  return {
    dialect: store.dialect,
    db: trx,
    transaction: (fn) => fn(trx),
    migrate: () => store.migrate(),
    ready: () => store.ready(),
    close: async () => undefined,
  };
}

/** The selection as the dead-letter store's filter; 400 unless exactly one of ids, filter, all. */
function selectionFilter(body: Selection): DeadLetterFilter {
  const given = (['ids', 'filter', 'all'] as const).filter((k) => body[k] !== undefined);
  if (given.length !== 1) {
    throw new PaystreamError(
      'PAYSTREAM_VALIDATION',
      given.length === 0
        ? 'Say which dead letters: ids, filter or all.'
        : `Give exactly one of ids, filter and all (got ${given.join(', ')}).`,
      given[1] ?? 'ids',
    );
  }
  if (body.ids) return { ids: body.ids };
  if (body.filter) {
    const f = body.filter;
    const c = f.created ?? {};
    const range = createdRangeMs({
      'created[gte]': c.gte,
      'created[gt]': c.gt,
      'created[lte]': c.lte,
      'created[lt]': c.lt,
    } as CreatedFilterQuery);
    return {
      consumer: f.consumer,
      eventType: f.type,
      createdFrom: range.gte,
      createdBefore: range.lte === undefined ? undefined : range.lte + 1,
    };
  }
  return {};
}

/**
 * /v1/admin: the platform's dead letters and consumers, for admin keys only (a merchant key gets
 * 403 PAYSTREAM_FORBIDDEN). A Fastify plugin with its own authentication; register it beside the
 * merchant routes, not inside their scope.
 */
export async function adminRoutes(app: FastifyInstance, options: AdminRoutesOptions): Promise<void> {
  const { store, ids, clock, runtime } = options;
  requireApiKey(app, options.apiKeys);
  requireRole(app, 'admin');
  const deadLetters = new DeadLetters(store, ids, clock);

  /**
   * Runs an action under the request's Idempotency-Key, as every POST does: the key's claim, the
   * action and the stored answer commit in one transaction, so a retry replays the first answer.
   */
  async function idempotent(
    request: FastifyRequest,
    reply: FastifyReply,
    act: (letters: DeadLetters) => Promise<Record<string, unknown>>,
  ): Promise<FastifyReply> {
    const key = checkIdempotencyKey(request.headers['idempotency-key']);
    const scope = {
      merchantId: request.caller.merchantId,
      livemode: request.caller.livemode,
      apiKeyId: request.caller.apiKeyId,
      key,
      fingerprint: requestFingerprint(request.method, request.url.split('?')[0]!, request.body),
    };
    const operationId = ids.resource('dlop');
    const answer = await store.transaction(async (trx) => {
      const now = clock.now();
      const begun = await beginIdempotency(trx, scope, operationId, now);
      if (begun.kind === 'replay') return { ...begun.response, replayed: true };
      const body = JSON.stringify(await act(new DeadLetters(storeIn(store, trx), ids, clock)));
      await completeIdempotency(trx, operationId, { status: 200, body }, now);
      return { status: 200, body, replayed: false };
    });
    return sendJson(reply, answer.status, answer.body, answer.replayed);
  }

  app.get<{ Querystring: ListQuery }>(
    '/v1/admin/dead-letters',
    {
      schema: {
        summary: 'List dead letters, newest first',
        operationId: 'listDeadLetters',
        description:
          'Events consumers gave up on, newest first, filtered by consumer, status, event type and creation time; page with starting_after. Admin keys only.',
        tags: ['admin'],
        querystring: listQuery,
        response: { 200: listSchema(deadLetterSchema), ...adminErrors },
      },
    },
    async (request) => {
      const q = request.query;
      const created = createdRangeMs(q);
      const filter: DeadLetterFilter = {
        consumer: q.consumer,
        status: q.status,
        eventType: q.type,
        createdFrom: created.gte,
        createdBefore: created.lte === undefined ? undefined : created.lte + 1,
      };
      const rows = await deadLetters.list(filter, { limit: q.limit + 1, startingAfter: q.starting_after });
      return {
        object: 'list',
        data: rows.slice(0, q.limit).map(deadLetterJson),
        has_more: rows.length > q.limit,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/admin/dead-letters/:id',
    {
      schema: {
        summary: 'Retrieve a dead letter',
        operationId: 'getDeadLetter',
        description: 'One dead letter: the record as it came (headers, data), why it failed, and its status.',
        tags: ['admin'],
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
        },
        response: { 200: deadLetterSchema, ...adminErrors },
      },
    },
    async (request) => {
      const letter = await deadLetters.get(request.params.id);
      if (!letter) {
        throw new PaystreamError('PAYSTREAM_NOT_FOUND', `No such dead letter: ${request.params.id}`, 'id');
      }
      return deadLetterJson(letter);
    },
  );

  app.post<{ Body: Selection }>(
    '/v1/admin/dead-letters/redrive',
    {
      schema: {
        summary: 'Redrive dead letters',
        operationId: 'redriveDeadLetters',
        description:
          'Marks the selected pending dead letters `redrive_requested`; a worker running their consumer hands them to the handler again (inbox included), at its redrive rate. Exactly one of ids, filter, all. Needs an Idempotency-Key.',
        tags: ['admin'],
        headers: idempotencyKeyHeader,
        body: redriveBody,
        response: {
          200: actionSchema('dead_letter_redrive', 'marked', 'Dead letters marked for a redrive.'),
          ...adminErrors,
        },
      },
    },
    async (request, reply) => {
      const filter = selectionFilter(request.body);
      return idempotent(request, reply, async (letters) => ({
        object: 'dead_letter_redrive',
        marked: await letters.requestRedrive(filter),
      }));
    },
  );

  app.post<{ Body: Selection & { reason: string } }>(
    '/v1/admin/dead-letters/discard',
    {
      schema: {
        summary: 'Discard dead letters',
        operationId: 'discardDeadLetters',
        description:
          'Discards the selected dead letters not yet redriven, keeping the reason with each. Exactly one of ids, filter, all, and a reason. Needs an Idempotency-Key.',
        tags: ['admin'],
        headers: idempotencyKeyHeader,
        body: discardBody,
        response: {
          200: actionSchema('dead_letter_discard', 'discarded', 'Dead letters discarded.'),
          ...adminErrors,
        },
      },
    },
    async (request, reply) => {
      const filter = selectionFilter(request.body);
      const reason = request.body.reason.trim();
      return idempotent(request, reply, async (letters) => ({
        object: 'dead_letter_discard',
        discarded: await letters.discard(filter, reason),
      }));
    },
  );

  app.get(
    '/v1/admin/consumers',
    {
      schema: {
        summary: 'List consumers with their lag and dead letters',
        operationId: 'listConsumers',
        description:
          "Every known consumer: its group, its lag per partition (from the event log's committed offsets), its dead letters, and — for those this process runs — paused, breakers, counts and lag in seconds.",
        tags: ['admin'],
        response: { 200: listSchema(consumerSchema), ...adminErrors },
      },
    },
    async () => {
      const statuses = await consumerStatuses({
        directory: runtime.directory,
        transport: runtime.transport,
        running: runtime.running,
        deadLetters,
      });
      return {
        object: 'list',
        has_more: false,
        data: statuses.map((s) => ({
          object: 'consumer',
          name: s.name,
          group: s.group,
          topics: s.topics,
          running_here: s.runningHere,
          paused: s.paused,
          in_flight: s.inFlight,
          lag: s.lag && {
            events: s.lag.events,
            seconds: s.lag.seconds,
            partitions: s.lag.partitions.map((p) => ({
              topic: p.topic,
              partition: p.partition,
              committed: p.committed === null ? null : Number(p.committed),
              end: Number(p.end),
              lag: Number(p.lag),
            })),
          },
          breakers: s.breakers,
          counts: s.counts && {
            processed: s.counts.processed,
            skipped: s.counts.skipped,
            failed: s.counts.failed,
            dead_lettered: s.counts.deadLettered,
          },
          dead_letters: { pending: s.deadLetters.pending, redrive_requested: s.deadLetters.redriveRequested },
        })),
      };
    },
  );
}
