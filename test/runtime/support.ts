import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { migrationSets } from '../../src/app/migrations.ts';
import { toRecord } from '../../src/events/binary-mode.ts';
import { OutboxWriter } from '../../src/events/outbox.ts';
import { LocalKafka } from '../../src/local-kafka/cluster.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import { Breakers } from '../../src/runtime/breakers.ts';
import { DeadLetters } from '../../src/runtime/dead-letters.ts';
import type { RunnerDeps } from '../../src/runtime/runner.ts';
import type { MigrationSet } from '../../src/store/migrator.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import { EmbeddedTransport } from '../../src/transport/embedded/embedded-transport.ts';
import { KafkaTransport } from '../../src/transport/kafka/kafka-transport.ts';
import type { Transport } from '../../src/transport/transport.ts';
import { createTestDatabase, postgresAdminUrl } from '../support/dialects.ts';
import { paymentSucceededEvent } from '../support/event-fixtures.ts';

/** A test consumer's own table: one row per applied event, so a test can count effects. */
export const testEffectsMigrations: MigrationSet = {
  name: 'test_effects',
  migrations: () => ({
    '0001': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('test_effects')
          .addColumn('consumer', 'text', (c) => c.notNull())
          .addColumn('event_id', 'text', (c) => c.notNull())
          .addColumn('customer', 'text', (c) => c.notNull())
          .addColumn('amount', 'bigint', (c) => c.notNull())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .execute();
      },
    },
  }),
};

declare module '../../src/store/database.ts' {
  interface Database {
    test_effects: { consumer: string; event_id: string; customer: string; amount: number; seq: number };
  }
}

export type RuntimeMode = 'embedded' | 'kafka';

export function runtimeModes(): RuntimeMode[] {
  const hasJava = spawnSync('java', ['-version']).status === 0;
  if (process.env['PAYSTREAM_TEST_REQUIRE_KAFKA'] === '1' && (!hasJava || !postgresAdminUrl)) {
    throw new Error('PAYSTREAM_TEST_REQUIRE_KAFKA=1 needs java and PAYSTREAM_TEST_DATABASE_URL');
  }
  return hasJava && postgresAdminUrl ? ['embedded', 'kafka'] : ['embedded'];
}

export interface RuntimeRig {
  mode: RuntimeMode;
  store: Store;
  transport: Transport;
  deps: RunnerDeps;
  deadLetters: DeadLetters;
  ids: IdGenerator;
  /** Publishes payment.succeeded events for (customer, amount) pairs, in order, to `payments`. */
  publish(events: ReadonlyArray<{ customer: string; amount: number }>): Promise<string[]>;
  effects(
    consumer: string,
  ): Promise<Array<{ event_id: string; customer: string; amount: number; seq: number }>>;
  close(): Promise<void>;
}

/** A store of the mode's dialect with the runtime's tables, and the mode's transport with `payments`. */
export async function runtimeRig(mode: RuntimeMode, breakers = new Breakers()): Promise<RuntimeRig> {
  const db = await createTestDatabase(mode === 'embedded' ? 'sqlite' : 'postgres');
  const store = openStore(
    {
      databaseUrl: db.databaseUrl,
      sqlitePath: db.sqlitePath,
      databasePoolMax: 10,
    },
    [...migrationSets, testEffectsMigrations],
  );
  await store.migrate();
  let transport: Transport;
  let stopKafka = async () => undefined;
  if (mode === 'embedded') {
    transport = new EmbeddedTransport({
      store,
      file: db.sqlitePath,
      groupLeaseMs: 1000,
      pollIntervalMs: 250,
    });
  } else {
    // A broker of its own: a test reads its topic from the earliest record.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'paystream-runtime-kafka-'));
    const { kafka } = await LocalKafka.start({ nodes: 1, dir });
    stopKafka = async () => {
      await kafka.stop();
      rmSync(dir, { recursive: true, force: true });
    };
    transport = new KafkaTransport({
      brokers: [kafka.bootstrap],
      sessionTimeoutMs: 6000,
      heartbeatIntervalMs: 500,
    });
  }
  const topic = `payments`;
  await transport.ensureTopics([{ name: topic, partitions: 3, replicationFactor: 1, minInsyncReplicas: 1 }]);
  const ids = new IdGenerator();
  const deadLetters = new DeadLetters(store, ids, systemClock);
  const deps: RunnerDeps = {
    transport,
    store,
    clock: systemClock,
    ids,
    log: quietLog,
    breakers,
    deadLetters,
  };
  const writer = new OutboxWriter(ids, systemClock);
  return {
    mode,
    store,
    transport,
    deps,
    deadLetters,
    ids,
    async publish(events) {
      const envelopes = events.map(
        (e) => writer.prepare(paymentSucceededEvent(ids, e.customer, e.amount)).envelope,
      );
      await transport.publish(topic, envelopes.map(toRecord));
      return envelopes.map((e) => e.id);
    },
    async effects(consumer) {
      const rows = await store.db
        .selectFrom('test_effects')
        .select(['event_id', 'customer', 'amount', 'seq'])
        .where('consumer', '=', consumer)
        .orderBy('seq')
        .execute();
      return rows.map((r) => ({ ...r, amount: Number(r.amount), seq: Number(r.seq) }));
    },
    async close() {
      await transport.close();
      await store.close();
      await stopKafka();
      await db.drop();
    },
  };
}

/** Logs only errors (set PAYSTREAM_TEST_LOG=1 to see everything). */
export const quietLog = {
  info: (o: object, m?: string) => (process.env['PAYSTREAM_TEST_LOG'] ? console.log(m, o) : undefined),
  debug: () => undefined,
  warn: (o: object, m?: string) => (process.env['PAYSTREAM_TEST_LOG'] ? console.warn(m, o) : undefined),
  error: (o: object, m?: string) => console.error(m, o),
};

export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
