import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fromRecord } from '../../src/events/binary-mode.ts';
import { LocalKafka } from '../../src/local-kafka/cluster.ts';
import { KafkaTransport } from '../../src/transport/kafka/kafka-transport.ts';
import { startTestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';
import { Reader } from '../transport/reader.ts';

const hasJava = spawnSync('java', ['-version']).status === 0;
if (!hasJava && process.env['PAYSTREAM_TEST_REQUIRE_KAFKA'] === '1') throw new Error('Kafka tests need java');

/** At least 2,000 in npm test; `PAYSTREAM_TEST_BROKER_CRASH_PAYMENTS=10000` for the long run. */
const paymentsTotal = Number(process.env['PAYSTREAM_TEST_BROKER_CRASH_PAYMENTS'] ?? 2000);
const clients = 10;

async function brokerKilledDuringPayments(t: TestContext): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paystream-broker-crash-'));
  const { kafka } = await LocalKafka.start({ nodes: 3, dir });
  const app = await startTestApp('postgres', {
    PAYSTREAM_KAFKA_BROKERS: kafka.bootstrap,
    PAYSTREAM_KAFKA_PARTITIONS: '6',
    PAYSTREAM_KAFKA_REPLICATION_FACTOR: '3',
    PAYSTREAM_KAFKA_MIN_INSYNC_REPLICAS: '2',
  });
  t.after(async () => {
    await app.close();
    await kafka.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const startedAt = performance.now();
  // A consumer group reads from the start, as the services will: through the broker's death too.
  const transport = new KafkaTransport({ brokers: kafka.bootstrap.split(',') });
  const sub = await transport.subscribe({
    group: `check-${Date.now()}`,
    topics: ['payments'],
    startFrom: 'earliest',
  });
  const reader = new Reader(sub);
  const arrived = new Map<string, string[]>();
  const seen = new Set<string>();
  let reading = true;
  t.after(() => {
    reading = false; // a failed assertion must not leave the reader running
  });
  const readAll = (async () => {
    while (reading && seen.size < paymentsTotal) {
      const record = await reader.next(1000);
      if (!record) continue;
      const event = fromRecord(record);
      if (seen.has(event.subject)) continue;
      seen.add(event.subject);
      const customer = record.key.split('/')[1]!;
      arrived.set(customer, [...(arrived.get(customer) ?? []), event.subject]);
    }
  })();

  // Each client pays for its own customer, one payment after another: their events' order is known.
  const byCustomer = new Map<string, string[]>();
  let done = 0;
  let killedAt = -1;
  const killAfter = Math.floor(paymentsTotal * 0.3);
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const customer = `cus_crash_${c}`;
      const mine: string[] = [];
      byCustomer.set(customer, mine);
      for (let i = c; i < paymentsTotal; i += clients) {
        const res = await app.post('/v1/payments', {
          customer_id: customer,
          amount: 100 + i,
          currency: 'usd',
          payment_method: 'pm_card_visa',
        });
        assert.equal(res.status, 200, JSON.stringify(res.json));
        mine.push(res.json.id);
        done += 1;
        if (done === killAfter) {
          killedAt = done;
          await kafka.killNode(2); // SIGKILL: a broker holding leaders and replicas dies mid-stream
        }
      }
    }),
  );
  assert.ok(killedAt > 0, 'the broker was killed during the payments');
  // The relay rides out the leader changes; the outbox drains.
  for (let waited = 0; (await app.app.relay!.stats()).backlog > 0; waited += 200) {
    assert.ok(waited < 120_000, `outbox backlog ${(await app.app.relay!.stats()).backlog}`);
    await sleep(200);
  }

  const giveUpAt = Date.now() + 90_000;
  while (seen.size < paymentsTotal && Date.now() < giveUpAt) await sleep(200);
  reading = false;
  await readAll;
  await sub.close();
  await transport.close();
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  const summary = `${paymentsTotal} payments from ${clients} clients; broker 2 of 3 killed with SIGKILL after ${killedAt}; ${seen.size} distinct events read back; ${seconds} s`;
  t.diagnostic(summary);
  const complete = [...byCustomer].every(
    ([customer, paid]) => JSON.stringify(arrived.get(customer)) === JSON.stringify(paid),
  );
  const reportDir = process.env['PAYSTREAM_TEST_REPORT_DIR'];
  if (reportDir) {
    writeFileSync(
      path.join(reportDir, `kafka-broker-crash-${new Date().toISOString().slice(0, 10)}.md`),
      [
        '# Kafka broker crash: kill -9 of one of 3 brokers during the payments',
        '',
        `Command: \`npm run soak:broker-crash\` (PAYSTREAM_TEST_BROKER_CRASH_PAYMENTS=${paymentsTotal},`,
        'PostgreSQL at PAYSTREAM_TEST_DATABASE_URL). PostgreSQL + a 3-node LocalKafka (replication 3,',
        'min.insync.replicas 2, 6 partitions), paystream in-process (API + relay), one consumer group',
        'reading the payments topic from the start throughout; 2 cores, Node 24.21.',
        '',
        `Result: ${summary}.`,
        '',
        `Every payment's event arrived, each customer's in payment order: **${complete ? 'yes' : 'NO'}**.`,
        '',
      ].join('\n'),
    );
  }
  for (const [customer, paid] of byCustomer) {
    assert.deepEqual(arrived.get(customer), paid, `every event of ${customer}, in order`);
  }
}

for (const _ of dialects().filter((d) => d === 'postgres' && hasJava)) {
  test(
    '3 Kafka brokers (replication 3, min ISR 2): kill -9 of one during the payments loses no event',
    { timeout: 900_000 },
    (t) => brokerKilledDuringPayments(t),
  );
}
