import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { migrationSets } from '../../src/app/migrations.ts';
import { fromRecord } from '../../src/events/binary-mode.ts';
import { OutboxWriter } from '../../src/events/outbox.ts';
import { LocalKafka } from '../../src/local-kafka/cluster.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import { openStore } from '../../src/store/open.ts';
import { KafkaTransport } from '../../src/transport/kafka/kafka-transport.ts';
import { createTestDatabase, dialects } from '../support/dialects.ts';
import { paymentSucceededEvent } from '../support/event-fixtures.ts';
import { type Proc, spawnPaystream } from '../support/processes.ts';
import { Reader } from '../transport/reader.ts';

const hasJava = spawnSync('java', ['-version']).status === 0;
if (!hasJava && process.env['PAYSTREAM_TEST_REQUIRE_KAFKA'] === '1') throw new Error('Kafka tests need java');

const eventsTotal = 10_000;
const customers = 20;

/** A payment.succeeded whose amount is the customer's sequence number: order is readable on arrival. */
const event = (ids: IdGenerator, customer: number, sequence: number) =>
  paymentSucceededEvent(ids, `cus_${customer}`, sequence);

async function relayKilledRepeatedly(t: TestContext): Promise<void> {
  const db = await createTestDatabase('postgres');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paystream-relay-crash-'));
  const { kafka } = await LocalKafka.start({ nodes: 1, dir: path.join(dir, 'kafka') });
  const store = openStore(
    { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 4 },
    migrationSets,
  );
  const transport = new KafkaTransport({ brokers: [kafka.bootstrap] });
  const relays: Proc[] = [];
  t.after(async () => {
    for (const r of relays) await r.kill();
    await transport.close();
    await store.close();
    await kafka.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  await store.migrate();
  const env = {
    ...process.env,
    PAYSTREAM_DATA_DIR: db.dataDir,
    PAYSTREAM_DATABASE_URL: db.databaseUrl,
    PAYSTREAM_KAFKA_BROKERS: kafka.bootstrap,
    PAYSTREAM_KAFKA_PARTITIONS: '3',
    PAYSTREAM_LOG_LEVEL: 'warn',
  };
  const startRelay = async () => {
    const relay = spawnPaystream('relay', ['relay'], env);
    relays.push(relay);
    await relay.waitFor('stdout', /paystream relay/, 30_000);
    return relay;
  };
  const running = [await startRelay(), await startRelay()];

  // Write the events while the relays run, killing one with SIGKILL every ~1.2 s and starting it again.
  const ids = new IdGenerator();
  const outbox = new OutboxWriter(ids, systemClock);
  const written: string[] = [];
  const sequences = new Array<number>(customers).fill(0);
  let kills = 0;
  let nextKillAt = Date.now() + 1200;
  for (let batch = 0; batch < eventsTotal / 50; batch += 1) {
    const envelopes = await store.transaction(async (trx) => {
      const out = [];
      for (let i = 0; i < 50; i += 1) {
        const customer = (batch * 50 + i) % customers;
        sequences[customer]! += 1;
        out.push(await outbox.write(trx, event(ids, customer, sequences[customer]!)));
      }
      return out;
    });
    written.push(...envelopes.map((e) => e.id));
    if (Date.now() >= nextKillAt) {
      const victim = running.shift()!;
      await victim.kill();
      kills += 1;
      running.push(await startRelay());
      nextKillAt = Date.now() + 1200;
    }
    await sleep(15);
  }
  // The relays drain the outbox.
  for (let waited = 0; ; waited += 200) {
    const left = await store.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    if (Number(left.n) === 0) break;
    assert.ok(waited < 90_000, `${left.n} events still in the outbox`);
    await sleep(200);
  }

  const sub = await transport.subscribe({
    group: `check-${Date.now()}`,
    topics: ['payments'],
    startFrom: 'earliest',
  });
  const reader = new Reader(sub);
  const seen = new Set<string>();
  const lastByCustomer = new Map<string, number>();
  let duplicates = 0;
  for (const giveUpAt = Date.now() + 60_000; seen.size < written.length && Date.now() < giveUpAt; ) {
    const record = await reader.next(Math.max(1, giveUpAt - Date.now()));
    if (!record) break;
    const e = fromRecord(record);
    if (seen.has(e.id)) {
      duplicates += 1; // published again after a crash between Kafka's ack and the delete
      continue;
    }
    seen.add(e.id);
    const sequence = (e.data as { amount: number }).amount;
    const last = lastByCustomer.get(record.key) ?? 0;
    assert.ok(sequence > last, `order of ${record.key}: ${sequence} after ${last}`);
    lastByCustomer.set(record.key, sequence);
  }
  await sub.close();
  t.diagnostic(`${kills} kills of a relay; ${seen.size} distinct events, ${duplicates} duplicates`);
  assert.ok(kills >= 3, `only ${kills} kills`);
  const missing = written.filter((id) => !seen.has(id));
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} events never arrived`);
}

for (const _ of dialects().filter((d) => d === 'postgres' && hasJava)) {
  test(
    'relay crash: two relay processes, killed with SIGKILL again and again during 10,000 events',
    { timeout: 240_000 },
    (t) => relayKilledRepeatedly(t),
  );
}
