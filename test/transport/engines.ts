import { leaseMigrations } from '../../src/store/leases/migrations.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { EmbeddedTransport } from '../../src/transport/embedded/embedded-transport.ts';
import { eventLogMigrations } from '../../src/transport/embedded/migrations.ts';
import { KafkaTransport } from '../../src/transport/kafka/kafka-transport.ts';
import type { Transport } from '../../src/transport/transport.ts';

/** Settings the contract suite uses for the embedded log: short leases, so a dead member is replaced fast. */
export const embeddedTestSettings = { groupLeaseMs: 600, pollIntervalMs: 250 } as const;

/** The embedded log on `file`, opened the way a process of its own would open it. */
export async function openEmbedded(file: string): Promise<Transport> {
  const store = new SqliteStore(file, { migrations: [leaseMigrations, eventLogMigrations] });
  await store.migrate();
  const transport = new EmbeddedTransport({ store, file, ...embeddedTestSettings });
  const close = transport.close.bind(transport);
  transport.close = async () => {
    await close();
    await store.close();
  };
  return transport;
}

/** Settings the contract suite uses for Kafka: the broker's shortest session, so a dead member goes fast. */
export const kafkaTestSettings = { sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 } as const;

export async function openKafka(brokers: string): Promise<Transport> {
  return new KafkaTransport({ brokers: brokers.split(','), ...kafkaTestSettings });
}

/** For test/transport/consumer-child.ts: the engine named by TRANSPORT_ENGINE and its settings. */
export function openFromEnv(env: NodeJS.ProcessEnv): Promise<Transport> {
  if (env['TRANSPORT_ENGINE'] === 'embedded') return openEmbedded(env['TRANSPORT_FILE']!);
  if (env['TRANSPORT_ENGINE'] === 'kafka') return openKafka(env['KAFKA_BROKERS']!);
  throw new Error(`unknown TRANSPORT_ENGINE ${env['TRANSPORT_ENGINE']}`);
}
