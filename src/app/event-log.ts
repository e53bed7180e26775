import type { Config } from '../platform/config.ts';
import type { Store } from '../store/store.ts';
import { EmbeddedTransport } from '../transport/embedded/embedded-transport.ts';
import { KafkaTransport } from '../transport/kafka/kafka-transport.ts';
import type { TopicSpec, Transport } from '../transport/transport.ts';

/** The topics of the payment core's events (`payment.*` and `refund.*` share one, per customer). */
export function coreTopics(config: Config): TopicSpec[] {
  return [
    {
      name: 'payments',
      partitions: config.kafkaPartitions,
      replicationFactor: config.kafkaReplicationFactor,
      minInsyncReplicas: config.kafkaMinInsyncReplicas,
    },
  ];
}

/**
 * The event log for the configured mode, its topics ensured: the embedded log in the SQLite file
 * (embedded mode), Apache Kafka when PAYSTREAM_KAFKA_BROKERS is set, or none (PostgreSQL without
 * Kafka: events wait in the outbox). The one place an engine is chosen.
 */
export async function openEventLog(config: Config, store: Store): Promise<Transport | undefined> {
  let transport: Transport | undefined;
  if (config.mode === 'embedded') transport = new EmbeddedTransport({ store, file: config.sqlitePath });
  else if (config.kafkaBrokers.length > 0) transport = new KafkaTransport({ brokers: config.kafkaBrokers });
  await transport?.ensureTopics(coreTopics(config));
  return transport;
}
