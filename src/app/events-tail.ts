import { randomUUID } from 'node:crypto';
import { fromRecord } from '../events/binary-mode.ts';
import { readEvent } from '../events/catalogue.ts';
import type { CloudEvent } from '../events/envelope.ts';
import type { Config } from '../platform/config.ts';
import { ConfigError } from '../platform/config.ts';
import { openStore } from '../store/open.ts';
import { openEventLog } from './event-log.ts';
import { migrationSets } from './migrations.ts';

export interface TailFilter {
  type?: string | undefined;
  customer?: string | undefined;
}

/**
 * `paystream events tail`: prints events as they reach the event log, one line each, the way
 * `stripe listen` shows a Stripe account's. It reads as a group of its own that never commits,
 * from the end of the log, so it changes no other consumer's position.
 */
export async function tailEvents(
  config: Config,
  filter: TailFilter,
  out: NodeJS.WritableStream,
  signal: AbortSignal,
): Promise<void> {
  const store = openStore(config, migrationSets);
  // It may start before any other process has migrated a fresh store.
  await store.migrate();
  const transport = await openEventLog(config, store);
  if (!transport) {
    await store.close();
    throw new ConfigError(
      'events tail needs an event log: PAYSTREAM_KAFKA_BROKERS with PostgreSQL, or the embedded mode',
    );
  }
  const subscription = await transport.subscribe({
    group: `paystream-tail-${randomUUID()}`,
    topics: ['payments'],
    startFrom: 'latest',
  });
  signal.addEventListener('abort', () => void subscription.close(), { once: true });
  process.stderr.write(
    `tailing events on ${transport.engine === 'kafka' ? 'Kafka' : 'the embedded log'} (Ctrl-C to stop)\n`,
  );
  try {
    for await (const record of subscription) {
      // Checked and upcast as every consumer reads it; what cannot be read is shown, not fatal.
      let event: CloudEvent;
      try {
        event = readEvent(fromRecord(record));
      } catch (error) {
        process.stderr.write(`unreadable record at offset ${record.offset}: ${(error as Error).message}\n`);
        continue;
      }
      const customer = event.partitionkey.split('/').pop();
      if (filter.type && event.type !== filter.type) continue;
      if (filter.customer && customer !== filter.customer) continue;
      out.write(
        `${event.time}  ${event.type.padEnd(18)} ${event.subject}  ${event.partitionkey}  ${JSON.stringify(event.data)}\n`,
      );
    }
  } finally {
    await subscription.close();
    await transport.close();
    await store.close();
  }
}
