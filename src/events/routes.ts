import type { FastifyInstance } from 'fastify';
import { type CreatedFilterQuery, createdFilterProperties, createdRangeMs } from '../http/created-filter.ts';
import { errorResponses, listSchema } from '../http/schemas.ts';
import { PaystreamError } from '../platform/errors.ts';
import type { Store } from '../store/store.ts';
import { findEvent, listEvents } from './archive.ts';
import { readEvent } from './catalogue.ts';
import type { CloudEvent } from './envelope.ts';

/**
 * /v1/events: the caller's merchant's published events, as the event log carries them (the
 * CloudEvents envelope), with `object: "event"`. Data written by an older version of its schema is
 * upcast to the current version, as every consumer reads it. An event is listed once the relay has
 * published it (in the embedded mode, milliseconds after the payment), for
 * PAYSTREAM_EVENT_RETENTION_DAYS.
 */

const uuid = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

export const eventSchema = {
  type: 'object',
  required: [
    'object',
    'id',
    'specversion',
    'type',
    'source',
    'subject',
    'time',
    'datacontenttype',
    'dataschema',
    'partitionkey',
    'data',
  ],
  properties: {
    object: { type: 'string', enum: ['event'] },
    id: { type: 'string', description: 'The CloudEvents id: a UUIDv7, the same on every transport.' },
    specversion: { type: 'string', enum: ['1.0'] },
    type: { type: 'string', description: 'See docs/events.md: payment.succeeded, refund.failed, ...' },
    source: { type: 'string' },
    subject: { type: 'string', description: 'The object the event is about: a payment or refund id.' },
    time: { type: 'string', format: 'date-time' },
    datacontenttype: { type: 'string', enum: ['application/json'] },
    dataschema: { type: 'string', description: 'The schema version `data` follows (the current one).' },
    partitionkey: { type: 'string', description: '`<merchant_id>/<customer_id>`: the order key.' },
    data: { type: 'object', additionalProperties: true },
  },
} as const;

const listEventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: {
      type: 'string',
      maxLength: 100,
      pattern: '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*(\\.\\*)?$',
      description: 'An event type (`payment.succeeded`), or every type under a prefix (`refund.*`).',
    },
    ...createdFilterProperties,
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
    starting_after: { type: 'string', pattern: uuid, description: 'The last id of the previous page.' },
  },
} as const;

interface ListEventsQuery extends CreatedFilterQuery {
  type?: string;
  limit: number;
  starting_after?: string;
}

const eventIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

function eventJson(event: CloudEvent): Record<string, unknown> {
  return { object: 'event', ...readEvent(event) };
}

export async function eventRoutes(app: FastifyInstance, { store }: { store: Store }): Promise<void> {
  app.get<{ Params: { id: string } }>(
    '/v1/events/:id',
    {
      schema: {
        summary: 'Retrieve an event',
        operationId: 'getEvent',
        description: "The published event with this id, if it belongs to the caller's merchant.",
        tags: ['events'],
        params: eventIdParams,
        response: { 200: eventSchema, ...errorResponses },
      },
    },
    async (request) => {
      const event = await findEvent(store.db, request.params.id, request.caller.merchantId);
      if (!event) {
        throw new PaystreamError('PAYSTREAM_NOT_FOUND', `No such event: ${request.params.id}`, 'id');
      }
      return eventJson(event);
    },
  );

  app.get<{ Querystring: ListEventsQuery }>(
    '/v1/events',
    {
      schema: {
        summary: 'List events, newest first',
        operationId: 'listEvents',
        description:
          "The merchant's published events, newest first, filtered by type and creation time; page with starting_after.",
        tags: ['events'],
        querystring: listEventsQuery,
        response: { 200: listSchema(eventSchema), ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query;
      const created = createdRangeMs(q);
      const page = await listEvents(store.db, {
        merchantId: request.caller.merchantId,
        type: q.type,
        createdGte: created.gte,
        createdLte: created.lte,
        startingAfter: q.starting_after,
        limit: q.limit,
      });
      return { object: 'list', data: page.data.map(eventJson), has_more: page.hasMore };
    },
  );
}
