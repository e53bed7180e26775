import { consumerStatuses } from '../admin/consumers.ts';
import { systemClock } from '../platform/clock.ts';
import type { Config } from '../platform/config.ts';
import { IdGenerator } from '../platform/ids.ts';
import { DeadLetters } from '../runtime/dead-letters.ts';
import { openStore } from '../store/open.ts';
import { formatTable } from './dead-letters-command.ts';
import { coreTopics, openEventLog } from './event-log.ts';
import { migrationSets } from './migrations.ts';
import { consumerNames } from './services.ts';

/**
 * `paystream lag`: each consumer's position in the event log, per partition, and its dead letters
 * waiting, read from a process of its own (the store and the event log; no consumer is started).
 * The committed offsets live in the log (Kafka's group offsets, the embedded log's table), so it
 * is right wherever the consumers run.
 */
export async function lagCommand(config: Config, out: NodeJS.WritableStream): Promise<void> {
  const store = openStore(config, migrationSets);
  try {
    await store.migrate();
    const transport = await openEventLog(config, store);
    try {
      const statuses = await consumerStatuses({
        directory: { names: consumerNames(), topics: coreTopics(config).map((t) => t.name) },
        transport,
        running: undefined,
        deadLetters: new DeadLetters(store, new IdGenerator(systemClock), systemClock),
      });
      if (!transport) {
        out.write('no event log (PostgreSQL without PAYSTREAM_KAFKA_BROKERS): events wait in the outbox\n\n');
      }
      const blocks = statuses.map((s) => {
        const head = [
          `${s.name}  group ${s.group}`,
          `  lag ${s.lag ? `${s.lag.events} event${s.lag.events === 1 ? '' : 's'}` : 'unknown'}`,
          `  dead letters pending ${s.deadLetters.pending}${s.deadLetters.redriveRequested ? `, redrive requested ${s.deadLetters.redriveRequested}` : ''}`,
        ].join('');
        if (!s.lag) return head;
        const rows = s.lag.partitions.map((p) => [
          `  ${p.topic}`,
          String(p.partition),
          p.committed === null ? '-' : String(p.committed),
          String(p.end),
          String(p.lag),
        ]);
        return `${head}\n${formatTable([['  TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG'], ...rows])}`;
      });
      out.write(`${blocks.join('\n\n') || 'no consumers'}\n`);
    } finally {
      await transport?.close();
    }
  } finally {
    await store.close();
  }
}
