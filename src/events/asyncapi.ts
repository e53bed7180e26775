import { eventCatalogue, topicOf } from './catalogue.ts';
import { dataschemaFor } from './envelope.ts';

/** `payment.succeeded` v1 -> `paymentSucceededV1`: AsyncAPI component keys allow no dots. */
function messageKey(type: string, version: number): string {
  return `${type.replace(/[._](\w)/g, (_, c: string) => c.toUpperCase())}V${version}`;
}

/** The CloudEvents binary-mode headers every event carries (src/events/binary-mode.ts). */
function headersFor(type: string, version: number) {
  const text = { type: 'string', minLength: 1 } as const;
  return {
    type: 'object',
    required: [
      'ce_specversion',
      'ce_id',
      'ce_source',
      'ce_type',
      'ce_subject',
      'ce_time',
      'ce_dataschema',
      'ce_partitionkey',
      'content-type',
    ],
    properties: {
      ce_specversion: { type: 'string', const: '1.0' },
      ce_id: { ...text, description: 'The event id, a UUIDv7: unique, the key of every inbox.' },
      ce_source: text,
      ce_type: { type: 'string', const: type },
      ce_subject: { ...text, description: 'The id of the object the event is about.' },
      ce_time: { type: 'string', format: 'date-time' },
      ce_dataschema: { type: 'string', const: dataschemaFor(type, version) },
      ce_partitionkey: { ...text, description: '<merchant_id>/<customer_id>, also the record key.' },
      'content-type': { type: 'string', const: 'application/json' },
    },
  };
}

/**
 * The event catalogue as an AsyncAPI 3.0 document: one channel per topic, one message per event type
 * and version (headers: the CloudEvents attributes; payload: the version's data schema). It is
 * generated from the catalogue, so the published document cannot drift from the code;
 * docs/asyncapi.json is its committed copy (`npm run docs:asyncapi`; a test fails when it is stale).
 */
export function asyncApiDocument(): Record<string, unknown> {
  const messages: Record<string, unknown> = {};
  const channels: Record<
    string,
    { address: string; description: string; messages: Record<string, unknown> }
  > = {};
  for (const [type, entry] of Object.entries(eventCatalogue)) {
    const topic = topicOf(type);
    channels[topic] ??= {
      address: topic,
      description: `Topic ${topic}: keyed by <merchant_id>/<customer_id>, so one customer's events keep their order.`,
      messages: {},
    };
    for (const [v, schema] of Object.entries(entry.versions as Record<string, object>)) {
      const version = Number(v);
      const key = messageKey(type, version);
      messages[key] = {
        name: type,
        title: `${type} v${version}${version === entry.current ? ' (current)' : ''}`,
        summary: `CloudEvents 1.0 in Kafka binary mode: ce_* headers, the data as the value.`,
        contentType: 'application/json',
        headers: headersFor(type, version),
        payload: schema,
        bindings: {
          kafka: {
            key: { type: 'string', description: '<merchant_id>/<customer_id>' },
            bindingVersion: '0.5.0',
          },
        },
      };
      channels[topic]!.messages[key] = { $ref: `#/components/messages/${key}` };
    }
  }
  const operations: Record<string, unknown> = {};
  for (const [topic, channel] of Object.entries(channels)) {
    operations[`consume${topic[0]!.toUpperCase()}${topic.slice(1)}`] = {
      action: 'receive',
      summary: `What a consumer group of ${topic} receives, at least once, in order per key.`,
      channel: { $ref: `#/channels/${topic}` },
      messages: Object.keys(channel.messages).map((key) => ({ $ref: `#/channels/${topic}/messages/${key}` })),
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'paystream events',
      version: '1',
      description:
        'The events the payment core publishes through its outbox; see docs/events.md. Old versions stay listed: consumers read them.',
    },
    defaultContentType: 'application/json',
    servers: {
      kafka: {
        host: '127.0.0.1:9092',
        protocol: 'kafka',
        description:
          'Apache Kafka (PAYSTREAM_KAFKA_BROKERS); the embedded mode keeps the same topics in SQLite.',
      },
    },
    channels,
    operations,
    components: { messages },
  };
}
