import type { Config } from '../platform/config.ts';
import { ConfigError } from '../platform/config.ts';
import { OutboxRelay } from '../relay/outbox-relay.ts';
import { openStore } from '../store/open.ts';
import { Closers } from './closers.ts';
import { openEventLog } from './event-log.ts';
import { migrationSets } from './migrations.ts';

/**
 * `paystream relay`: the outbox relay alone, for deployments that run it apart from the API. Any
 * number may run; one is active at a time (the `outbox_relay` lease), the others take over
 * within the lease if it dies.
 */
export async function startRelay(
  config: Config,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<{ relay: OutboxRelay; close: () => Promise<void> }> {
  const closers = new Closers((error) => log(`closing failed: ${String(error)}`));
  try {
    const store = openStore(config, migrationSets);
    closers.add(() => store.close());
    await store.migrate();
    const transport = await openEventLog(config, store);
    if (!transport) {
      throw new ConfigError(
        'paystream relay needs an event log: PAYSTREAM_KAFKA_BROKERS with PostgreSQL, or the embedded mode',
      );
    }
    closers.add(() => transport.close());
    const relay = new OutboxRelay({
      store,
      transport,
      eventRetentionMs: config.eventRetentionDays * 86_400_000,
      onError: (error) =>
        log(`relay round failed: ${error instanceof Error ? error.message : String(error)}`),
    });
    await relay.start();
    closers.add(() => relay.stop());
    return { relay, close: () => closers.close() };
  } catch (error) {
    await closers.close();
    throw error;
  }
}
