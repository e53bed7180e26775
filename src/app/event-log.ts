import { type Config, ConfigError } from '../platform/config.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/store.ts';
import { EmbeddedTransport } from '../transport/embedded/embedded-transport.ts';
import { KafkaTransport } from '../transport/kafka/kafka-transport.ts';
import type { TopicSpec, Transport } from '../transport/transport.ts';
import type { Closers } from './closers.ts';
import { migrationSets } from './migrations.ts';

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

/**
 * What every process that reads or feeds the event log starts with (`relay`, `worker`, `replay`):
 * the store, migrated, and the event log for the mode; both are closed by `closers`. Throws a
 * ConfigError naming `command` when the mode has no event log (PostgreSQL without Kafka).
 */
export async function openStoreWithEventLog(
  config: Config,
  closers: Closers,
  command: string,
  onPoolError?: (error: Error) => void,
): Promise<{ store: Store; transport: Transport }> {
  const store = openStore(config, migrationSets, onPoolError ? { onPoolError } : {});
  closers.add(() => store.close());
  await store.migrate();
  const transport = await openEventLog(config, store);
  if (!transport) {
    throw new ConfigError(
      `paystream ${command} needs an event log: PAYSTREAM_KAFKA_BROKERS with PostgreSQL, or the embedded mode`,
    );
  }
  closers.add(() => transport.close());
  return { store, transport };
}
