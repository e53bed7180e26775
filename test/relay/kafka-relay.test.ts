import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { migrationSets } from '../../src/app/migrations.ts';
import { fromRecord } from '../../src/events/binary-mode.ts';
import { LocalKafka } from '../../src/local-kafka/cluster.ts';
import { OutboxRelay } from '../../src/relay/outbox-relay.ts';
import { openStore } from '../../src/store/open.ts';
import { KafkaTransport } from '../../src/transport/kafka/kafka-transport.ts';
import { consume } from '../local-kafka/kafka-tools.ts';
import { startTestApp } from '../support/app.ts';
import { createTestDatabase, dialects } from '../support/dialects.ts';
import { Reader } from '../transport/reader.ts';

const hasJava = spawnSync('java', ['-version']).status === 0;
if (!hasJava && process.env['PAYSTREAM_TEST_REQUIRE_KAFKA'] === '1') throw new Error('Kafka tests need java');

/** Reads a topic with Kafka's own console consumer (from the same jars): an independent client. */
function consoleConsume(kafka: LocalKafka, topic: string, count: number) {
  const lines = consume(kafka.libs, kafka.bootstrap, topic, count, 30_000, {
    'print.key': 'true',
    'print.headers': 'true',
    'headers.separator': ';;',
    'key.separator': '\t',
  });
  return lines.map((line) => {
    const [headerText, key, value] = line.split('\t');
    const headers: Record<string, string> = {};
    for (const pair of headerText!.split(';;')) {
      // name:value; a header name has no ':', a value may (ce_time).
      const at = pair.indexOf(':');
      headers[pair.slice(0, at)] = pair.slice(at + 1);
    }
    return { headers, key: key!, value: value! };
  });
}

const pay = (customer: string, amount: number) => ({
  customer_id: customer,
  amount,
  currency: 'usd',
  payment_method: 'pm_card_visa',
});

for (const dialect of dialects().filter((d) => d === 'postgres' && hasJava)) {
  describe('the outbox relay to Apache Kafka (PostgreSQL)', () => {
    let dir: string;
    let kafka: LocalKafka;
    before(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'paystream-relay-kafka-'));
      kafka = (await LocalKafka.start({ nodes: 1, dir })).kafka;
    });
    after(async () => {
      await kafka.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("every record, read by Kafka's own console consumer, is a CloudEvent with the outbox event's id and key", async () => {
      const t = await startTestApp(dialect, { PAYSTREAM_KAFKA_BROKERS: kafka.bootstrap }, { relay: false });
      try {
        const paid = [];
        for (let i = 0; i < 30; i += 1)
          paid.push((await t.post('/v1/payments', pay(`cus_${i % 4}`, 100 + i))).json);
        const refund = await t.post(`/v1/payments/${paid[0].id}/refunds`, { amount: 50 });
        assert.equal(refund.status, 200);
        const outbox = await t.app.store.db
          .selectFrom('outbox')
          .select(['event_id', 'partition_key', 'type'])
          .orderBy('position')
          .execute();
        assert.equal(outbox.length, 31);
        const relay = new OutboxRelay({ store: t.app.store, transport: t.app.transport! });
        while ((await relay.publishRound()) > 0);
        assert.equal((await relay.stats()).backlog, 0);

        const records = consoleConsume(kafka, 'payments', outbox.length);
        assert.equal(records.length, outbox.length);
        const byId = new Map(records.map((r) => [r.headers['ce_id'], r]));
        for (const row of outbox) {
          const record = byId.get(row.event_id);
          assert.ok(record, `event ${row.event_id} is on the topic`);
          assert.equal(record.key, row.partition_key, 'keyed by its partition key');
          const event = fromRecord(record);
          assert.equal(event.specversion, '1.0');
          assert.equal(event.type, row.type);
          assert.match(event.source, /^\/paystream\//);
          assert.ok(!Number.isNaN(Date.parse(event.time)));
          assert.equal(record.headers['content-type'], 'application/json');
          assert.equal((event.data as { customer_id: string }).customer_id, row.partition_key.split('/')[1]);
        }
      } finally {
        await t.close();
      }
    });

    test('a row that commits late with a lower position is still published', async () => {
      const db = await createTestDatabase(dialect);
      const store = openStore(
        { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 4 },
        migrationSets,
      );
      const transport = new KafkaTransport({ brokers: [kafka.bootstrap] });
      const late = new pg.Client({ connectionString: db.databaseUrl });
      const topic = 'payments';
      try {
        await store.migrate();
        await transport.ensureTopics([
          { name: topic, partitions: 3, replicationFactor: 1, minInsyncReplicas: 1 },
        ]);
        const envelope = (id: string) =>
          JSON.stringify({
            specversion: '1.0',
            id,
            source: '/paystream/payments',
            type: 'payment.succeeded',
            subject: `pay_${id}`,
            time: new Date().toISOString(),
            datacontenttype: 'application/json',
            dataschema: 'urn:paystream:event:payment.succeeded:v1',
            partitionkey: 'acct_late/cus_late',
            data: { note: id },
          });
        const insert =
          'INSERT INTO outbox (event_id, type, partition_key, envelope, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING position';
        const lateId = `late-${Date.now()}`;
        const earlyId = `early-${Date.now()}`;
        await late.connect();
        await late.query('BEGIN');
        const n = (
          await late.query(insert, [
            lateId,
            'payment.succeeded',
            'acct_late/cus_late',
            envelope(lateId),
            Date.now(),
          ])
        ).rows[0].position;
        // Position N+1 commits first and is published while N is still uncommitted.
        const admin = new pg.Client({ connectionString: db.databaseUrl });
        await admin.connect();
        const n1 = (
          await admin.query(insert, [
            earlyId,
            'payment.succeeded',
            'acct_late/cus_late',
            envelope(earlyId),
            Date.now(),
          ])
        ).rows[0].position;
        await admin.end();
        assert.ok(BigInt(n1) > BigInt(n), 'N+1 was allocated after N');
        const relay = new OutboxRelay({ store, transport });
        assert.equal(await relay.publishRound(), 1, 'only N+1 is visible, and it is published');
        await late.query('COMMIT');
        assert.equal(await relay.publishRound(), 1, 'N, committed late, is published too');
        assert.equal((await relay.stats()).backlog, 0);
        const sub = await transport.subscribe({
          group: `late-${Date.now()}`,
          topics: [topic],
          startFrom: 'earliest',
        });
        // The topic may hold other tests' events: read until both are seen (or give up).
        const reader = new Reader(sub);
        const seen = new Set<string>();
        for (const giveUpAt = Date.now() + 30_000; seen.size < 2 && Date.now() < giveUpAt; ) {
          const record = await reader.next(giveUpAt - Date.now());
          const id = record?.headers['ce_id'];
          if (id === earlyId || id === lateId) seen.add(id);
        }
        await sub.close();
        assert.deepEqual([...seen].sort(), [earlyId, lateId].sort());
      } finally {
        await late.end().catch(() => undefined);
        await transport.close();
        await store.close();
        await db.drop();
      }
    });
  });
}
