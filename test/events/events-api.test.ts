import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { purgeEvents } from '../../src/events/archive.ts';
import { LocalKafka } from '../../src/local-kafka/cluster.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';

const hasJava = spawnSync('java', ['-version']).status === 0;
if (!hasJava && process.env['PAYSTREAM_TEST_REQUIRE_KAFKA'] === '1') throw new Error('Kafka tests need java');

const pay = (customer: string, paymentMethod = 'pm_card_visa') => ({
  customer_id: customer,
  amount: 1500,
  currency: 'eur',
  payment_method: paymentMethod,
});

/**
 * GET /v1/events on the real relay: the embedded mode, and PostgreSQL with a real Kafka (where the
 * relay publishes to the broker and then archives). Without an event log the relay does not run and
 * events wait in the outbox, unlisted, so PostgreSQL needs Java for its broker.
 */
for (const dialect of dialects().filter((d) => d === 'sqlite' || hasJava)) {
  describe(`the events API (${dialect})`, () => {
    let t: TestApp;
    let kafkaDir: string | undefined;
    let kafka: LocalKafka | undefined;
    let other: string;
    const subjects: string[] = [];

    before(async () => {
      let env: Record<string, string> = {};
      if (dialect === 'postgres') {
        kafkaDir = mkdtempSync(path.join(os.tmpdir(), 'paystream-events-api-'));
        kafka = (await LocalKafka.start({ nodes: 1, dir: kafkaDir })).kafka;
        env = { PAYSTREAM_KAFKA_BROKERS: kafka.bootstrap, PAYSTREAM_KAFKA_PARTITIONS: '2' };
      }
      t = await startTestApp(dialect, env);
      other = (await t.app.apiKeys.create({ name: 'another merchant' })).secret;

      // Mine: a payment, its refund, a declined payment. Theirs: one payment.
      const succeeded = await t.post('/v1/payments', pay('cus_ada'));
      assert.equal(succeeded.json.status, 'succeeded');
      const refund = await t.post(`/v1/payments/${succeeded.json.id}/refunds`, { amount: 500 });
      assert.equal(refund.json.status, 'succeeded');
      const declined = await t.post('/v1/payments', pay('cus_ada', 'pm_card_chargeDeclined'));
      assert.equal(declined.json.status, 'failed');
      subjects.push(succeeded.json.id, refund.json.id, declined.json.id);
      assert.equal((await t.post('/v1/payments', pay('cus_ada'), undefined, other)).status, 200);

      // Listed once the relay has moved them from the outbox.
      const giveUpAt = Date.now() + 20_000;
      const listed = async (secret?: string) =>
        (await t.get('/v1/events?limit=100', secret)).json.data.length;
      while ((await listed()) < 3 || (await listed(other)) < 1) {
        assert.ok(Date.now() < giveUpAt, 'the relay archived the events within 20 s');
        await sleep(50);
      }
    });
    after(async () => {
      await t?.close();
      await kafka?.stop();
      if (kafkaDir) rmSync(kafkaDir, { recursive: true, force: true });
    });

    test('a merchant lists its own events, newest first, as consumers read them', async () => {
      const list = await t.get('/v1/events?limit=100');
      assert.equal(list.status, 200);
      assert.equal(list.json.object, 'list');
      assert.equal(list.json.has_more, false);
      assert.deepEqual(
        list.json.data.map((e: { type: string; subject: string }) => [e.type, e.subject]),
        [
          ['payment.failed', subjects[2]],
          ['refund.succeeded', subjects[1]],
          ['payment.succeeded', subjects[0]],
        ],
      );
      const [failed, , first] = list.json.data;
      assert.equal(failed.object, 'event');
      assert.equal(failed.specversion, '1.0');
      assert.equal(failed.data.failure_code, 'generic_decline');
      assert.equal(first.dataschema, 'urn:paystream:event:payment.succeeded:v2');
      assert.equal(first.data.payment_id, subjects[0]);
      assert.equal(first.data.amount, 1500);
      assert.match(first.partitionkey, /^acct_[0-9A-Z]{26}\/cus_ada$/);

      const theirs = await t.get('/v1/events?limit=100', other);
      assert.equal(theirs.json.data.length, 1, 'the other merchant sees its one event, not mine');
      assert.notEqual(theirs.json.data[0].partitionkey, first.partitionkey);
    });

    test('one event by id; another merchant gets 404', async () => {
      const [latest] = (await t.get('/v1/events?limit=1')).json.data;
      const one = await t.get(`/v1/events/${latest.id}`);
      assert.equal(one.status, 200);
      assert.deepEqual(one.json, latest);
      const foreign = await t.get(`/v1/events/${latest.id}`, other);
      assert.equal(foreign.status, 404);
      assert.equal(foreign.json.error.code, 'PAYSTREAM_NOT_FOUND');
      assert.equal((await t.get('/v1/events/not-an-event')).status, 404);
    });

    test('filters by type, by type prefix and by time; pages with starting_after', async () => {
      const types = async (query: string) =>
        (await t.get(`/v1/events?${query}`)).json.data.map((e: { type: string }) => e.type);
      assert.deepEqual(await types('type=payment.succeeded'), ['payment.succeeded']);
      assert.deepEqual(await types('type=payment.*'), ['payment.failed', 'payment.succeeded']);
      assert.deepEqual(await types('type=refund.*'), ['refund.succeeded']);
      assert.deepEqual(await types('type=paymen.*'), [], 'a prefix is whole segments');
      const now = Math.floor(Date.now() / 1000);
      assert.equal((await types(`created[gte]=${now - 600}`)).length, 3);
      assert.deepEqual(await types(`created[lt]=${now - 600}`), []);

      const first = await t.get('/v1/events?limit=2');
      assert.equal(first.json.has_more, true);
      const second = await t.get(`/v1/events?limit=2&starting_after=${first.json.data[1].id}`);
      assert.equal(second.json.has_more, false);
      assert.deepEqual(
        [...first.json.data, ...second.json.data].map((e: { subject: string }) => e.subject),
        [subjects[2], subjects[1], subjects[0]],
      );
    });

    test('bad filters are a 400 naming the parameter', async () => {
      for (const [query, param] of [
        ['type=PAYMENT', 'type'],
        ['type=payment.*.x', 'type'],
        ['starting_after=pay_1', 'starting_after'],
        ['limit=101', 'limit'],
        ['created[gte]=1e20', 'created[gte]'],
        ['color=red', 'color'],
      ]) {
        const res = await t.get(`/v1/events?${query}`);
        assert.equal(res.status, 400, query);
        assert.equal(res.json.error.code, 'PAYSTREAM_VALIDATION', query);
        assert.equal(res.json.error.param, param, query);
      }
    });

    test('events past their retention are purged', async () => {
      assert.equal(await purgeEvents(t.app.store, Date.now() - 3_600_000), 0, 'none is an hour old');
      assert.equal(await purgeEvents(t.app.store, Date.now() + 1000), 4, 'all four are before the cutoff');
      assert.deepEqual((await t.get('/v1/events')).json.data, []);
    });
  });
}
