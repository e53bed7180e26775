import type { Config } from '../platform/config.ts';
import { OutboxRelay } from '../relay/outbox-relay.ts';
import { Closers } from './closers.ts';
import { openStoreWithEventLog } from './event-log.ts';

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
    const { store, transport } = await openStoreWithEventLog(config, closers, 'relay');
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
