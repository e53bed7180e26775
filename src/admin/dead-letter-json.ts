import type { DeadLetter } from '../runtime/dead-letters.ts';
import type { DeadLetterStatus } from '../runtime/tables.ts';

export const deadLetterStatuses: readonly DeadLetterStatus[] = [
  'pending',
  'redrive_requested',
  'redriving',
  'redriven',
  'discarded',
];

/** `dl_` and a UUIDv7: what the dead-letter store names its rows. */
export const deadLetterIdPattern = '^dl_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

export const deadLetterSchema = {
  type: 'object',
  required: [
    'id',
    'object',
    'consumer',
    'event_id',
    'event_type',
    'partition_key',
    'topic',
    'partition',
    'offset',
    'reason',
    'attempts',
    'error',
    'status',
    'discard_reason',
    'redrives',
    'created',
    'updated',
    'headers',
    'data',
  ],
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['dead_letter'] },
    consumer: { type: 'string' },
    event_id: { type: 'string' },
    event_type: { type: 'string' },
    partition_key: { type: 'string', description: 'The record key: `<merchant_id>/<customer_id>`.' },
    topic: { type: 'string' },
    partition: { type: 'integer' },
    offset: { type: 'integer', description: 'Position in its partition when it was dead-lettered.' },
    reason: { type: 'string', description: '`handler_failed`, `timeout` or `unreadable`.' },
    attempts: { type: 'integer' },
    error: { type: 'string', description: 'The last attempt’s error.' },
    status: { type: 'string', enum: deadLetterStatuses },
    discard_reason: { type: ['string', 'null'] },
    redrives: { type: 'integer', description: 'Times it was redriven and handled.' },
    created: { type: 'integer', description: 'Unix seconds.' },
    updated: { type: 'integer', description: 'Unix seconds.' },
    headers: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description: 'The record’s headers as it came (CloudEvents `ce_*`).',
    },
    // No type: any JSON value, serialized as it is.
    data: {
      description: 'The record’s value parsed as JSON (the event’s data); null when it is not JSON.',
    },
    value: {
      type: 'string',
      description: 'The record’s value as it came, present only when it is not JSON.',
    },
  },
} as const;

/** A dead letter as the admin API shows it: Stripe's shape, times in Unix seconds. */
export function deadLetterJson(d: DeadLetter): Record<string, unknown> {
  let data: unknown = null;
  let json = true;
  try {
    data = JSON.parse(d.value);
  } catch {
    json = false;
  }
  return {
    id: d.id,
    object: 'dead_letter',
    consumer: d.consumer,
    event_id: d.eventId,
    event_type: d.eventType,
    partition_key: d.partitionKey,
    topic: d.topic,
    partition: d.partition,
    offset: Number(d.offset),
    reason: d.reason,
    attempts: d.attempts,
    error: d.error,
    status: d.status,
    discard_reason: d.discardReason,
    redrives: d.redrives,
    created: Math.floor(d.createdAt / 1000),
    updated: Math.floor(d.updatedAt / 1000),
    headers: d.headers,
    data,
    ...(json ? {} : { value: d.value }),
  };
}
