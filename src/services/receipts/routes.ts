import type { FastifyPluginAsync } from 'fastify';
import type { Kysely, Selectable } from 'kysely';
import { PaystreamError } from '../../platform/errors.ts';
import type { ServiceRouteDeps } from '../../runtime/service.ts';
import type { Database } from '../../store/database.ts';
import { toNumber } from '../../store/store.ts';
import type { MailboxMessagesTable } from './tables.ts';

/**
 * /v1/mailbox: what the local SMTP sink received for the caller's merchant (the messages whose
 * X-Paystream-Merchant header names it), newest first. It shows the embedded mode's whole flow, a
 * payment to its receipt, with no outside mail server. Served behind the secret key
 * (`request.caller`), registered by the API with the other /v1 routes.
 */

/** The shared error object (`Error`, registered by the API's HTTP server: src/http/schemas.ts). */
const error = { $ref: 'Error#' } as const;
const errorResponses = { 400: error, 401: error, 404: error, 500: error } as const;

const messageIdPattern = '^msg_[0-9A-Z]{26}$';

const mailboxMessageSchema = {
  type: 'object',
  required: ['id', 'object', 'message_id', 'to', 'from', 'subject', 'received_at', 'text', 'html'],
  properties: {
    id: { type: 'string', description: '`msg_` + 26 base32 characters; sorts by arrival.' },
    object: { type: 'string', enum: ['mailbox_message'] },
    message_id: {
      type: ['string', 'null'],
      description: "The Message-ID header: a receipt's is `<event id@receipts.paystream>`.",
    },
    to: { type: 'string' },
    from: { type: 'string' },
    subject: { type: 'string' },
    received_at: { type: 'integer', description: 'Unix seconds.' },
    text: { type: ['string', 'null'], description: 'The plain-text part.' },
    html: { type: ['string', 'null'], description: 'The HTML part.' },
  },
} as const;

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
    starting_after: {
      type: 'string',
      pattern: messageIdPattern,
      description: 'The last id of the previous page.',
    },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

const columns = [
  'id',
  'message_id',
  'to_address',
  'from_address',
  'subject',
  'text',
  'html',
  'received_at',
] as const satisfies readonly (keyof MailboxMessagesTable)[];

type Row = Pick<Selectable<MailboxMessagesTable>, (typeof columns)[number]>;

function messageJson(row: Row) {
  return {
    id: row.id,
    object: 'mailbox_message' as const,
    message_id: row.message_id,
    to: row.to_address,
    from: row.from_address,
    subject: row.subject,
    received_at: Math.floor(toNumber(row.received_at) / 1000),
    text: row.text,
    html: row.html,
  };
}

/** A merchant's messages, newest first; one extra row tells whether there are more. */
export async function listMailbox(
  db: Kysely<Database>,
  merchantId: string,
  limit: number,
  startingAfter?: string,
): Promise<{ data: Row[]; hasMore: boolean }> {
  let query = db.selectFrom('mailbox_messages').select(columns).where('merchant_id', '=', merchantId);
  if (startingAfter !== undefined) query = query.where('id', '<', startingAfter);
  const rows = await query
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  return { data: rows.slice(0, limit), hasMore: rows.length > limit };
}

export function mailboxRoutes({ store }: ServiceRouteDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { limit: number; starting_after?: string } }>(
      '/v1/mailbox',
      {
        schema: {
          summary: 'List the messages the local SMTP sink received, newest first',
          operationId: 'listMailboxMessages',
          description:
            "The receipts the local SMTP sink kept for the caller's merchant (only while PAYSTREAM_SMTP_URL is unset); page with starting_after.",
          tags: ['mailbox'],
          querystring: listQuery,
          response: {
            200: {
              type: 'object',
              required: ['object', 'data', 'has_more'],
              properties: {
                object: { type: 'string', enum: ['list'] },
                data: { type: 'array', items: mailboxMessageSchema },
                has_more: { type: 'boolean' },
              },
            },
            ...errorResponses,
          },
        },
      },
      async (request) => {
        const page = await listMailbox(
          store.db,
          request.caller.merchantId,
          request.query.limit,
          request.query.starting_after,
        );
        return { object: 'list', data: page.data.map(messageJson), has_more: page.hasMore };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/v1/mailbox/:id',
      {
        schema: {
          summary: 'Retrieve a message the local SMTP sink received',
          operationId: 'getMailboxMessage',
          description: "The message with this id, if it was sent for the caller's merchant.",
          tags: ['mailbox'],
          params: idParams,
          response: { 200: mailboxMessageSchema, ...errorResponses },
        },
      },
      async (request) => {
        const row = await store.db
          .selectFrom('mailbox_messages')
          .select(columns)
          .where('id', '=', request.params.id)
          .where('merchant_id', '=', request.caller.merchantId)
          .executeTakeFirst();
        if (!row) {
          throw new PaystreamError(
            'PAYSTREAM_NOT_FOUND',
            `No such mailbox message: ${request.params.id}`,
            'id',
          );
        }
        return messageJson(row);
      },
    );
  };
}
