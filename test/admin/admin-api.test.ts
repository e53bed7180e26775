import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { toRecord } from '../../src/events/binary-mode.ts';
import { OutboxWriter } from '../../src/events/outbox.ts';
import type { Clock } from '../../src/platform/clock.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import { DeadLetters } from '../../src/runtime/dead-letters.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';
import { paymentSucceededEvent } from '../support/event-fixtures.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies of arbitrary shape
type Json = any;

/** 2026-01-01T00:00:00Z, in ms; the seeded dead letters are created 10 s apart from it. */
const t0 = 1_767_225_600_000;

/**
 * Dead letters of consumers that run nowhere in the test app ('fraud', 'audit'), so no worker
 * claims their redrives while the test looks.
 */
async function seed(t: TestApp): Promise<string[]> {
  let now = t0;
  const clock: Clock = { now: () => now } as Clock;
  const ids = new IdGenerator(clock);
  const letters = new DeadLetters(t.app.store, ids, clock);
  const writer = new OutboxWriter(ids, clock);
  const plan = [
    { consumer: 'fraud', customer: 'cus_a', type: 'payment.succeeded' },
    { consumer: 'fraud', customer: 'cus_b', type: 'payment.succeeded' },
    { consumer: 'audit', customer: 'cus_a', type: 'payment.succeeded' },
    { consumer: 'fraud', customer: 'cus_c', type: 'refund.succeeded' },
    { consumer: 'audit', customer: 'cus_d', type: 'payment.succeeded' },
  ];
  const made: string[] = [];
  for (const [i, p] of plan.entries()) {
    now = t0 + i * 10_000;
    const envelope = writer.prepare(paymentSucceededEvent(ids, p.customer, 100 + i)).envelope;
    const record = toRecord(envelope);
    await letters.add({
      consumer: p.consumer,
      eventId: envelope.id,
      eventType: p.type,
      record: { ...record, topic: 'payments', partition: 0, offset: BigInt(40 + i) },
      reason: 'handler_failed',
      attempts: 5,
      error: `Error: boom ${i}`,
    });
    const [row] = await letters.list({ consumer: p.consumer, ids: undefined }, { limit: 1 });
    made.push(row!.id);
  }
  // One that is not JSON: an unreadable record.
  now = t0 + 60_000;
  await letters.add({
    consumer: 'audit',
    eventId: 'not-an-event',
    eventType: 'unknown',
    record: { key: 'k', headers: {}, value: '\u0001garbage', topic: 'payments', partition: 1, offset: 7n },
    reason: 'unreadable',
    attempts: 1,
    error: 'MalformedEventError: ce_id is missing',
  });
  const [unreadable] = await letters.list({ consumer: 'audit' }, { limit: 1 });
  made.push(unreadable!.id);
  return made;
}

for (const dialect of dialects()) {
  describe(`the admin API (${dialect})`, () => {
    let t: TestApp;
    let admin: string;
    let ids: string[];
    let n = 0;
    const call = async (
      method: 'GET' | 'POST',
      url: string,
      options: { secret?: string; body?: unknown; key?: string | null } = {},
    ): Promise<{ status: number; json: Json; headers: Record<string, unknown> }> => {
      const key = options.key === undefined ? `admin-${++n}-${Math.random()}` : options.key;
      const res = await t.app.api.inject({
        method,
        url,
        headers: {
          authorization: `Bearer ${options.secret ?? admin}`,
          ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
          ...(method === 'POST' && key !== null ? { 'idempotency-key': key } : {}),
        },
        ...(method === 'POST' ? { payload: JSON.stringify(options.body ?? {}) } : {}),
      });
      return { status: res.statusCode, json: res.json(), headers: res.headers };
    };

    before(async () => {
      t = await startTestApp(dialect);
      admin = (await t.app.apiKeys.create({ role: 'admin', name: 'ops' })).secret;
      ids = await seed(t);
    });
    after(() => t.close());

    test('a merchant key gets 403 PAYSTREAM_FORBIDDEN on /v1/admin; an admin key gets 403 on merchant routes; none gets 401', async () => {
      for (const [method, url] of [
        ['GET', '/v1/admin/dead-letters'],
        ['GET', `/v1/admin/dead-letters/${ids[0]}`],
        ['GET', '/v1/admin/consumers'],
        ['POST', '/v1/admin/dead-letters/redrive'],
        ['POST', '/v1/admin/dead-letters/discard'],
      ] as const) {
        const res = await call(method, url, { secret: t.secret, body: { all: true, reason: 'x' } });
        assert.equal(res.status, 403, `${method} ${url}`);
        assert.equal(res.json.error.code, 'PAYSTREAM_FORBIDDEN');
      }
      const payments = await call('GET', '/v1/payments');
      assert.equal(payments.status, 403);
      assert.equal(payments.json.error.code, 'PAYSTREAM_FORBIDDEN');
      const none = await t.app.api.inject({ method: 'GET', url: '/v1/admin/dead-letters' });
      assert.equal(none.statusCode, 401);
      // Nothing was touched by the refused POSTs.
      const all = await call('GET', '/v1/admin/dead-letters?limit=100');
      assert.ok(all.json.data.every((d: Json) => d.status === 'pending'));
    });

    test('lists newest first with the record, its headers and data; filters by consumer, status, type and created', async () => {
      const all = await call('GET', '/v1/admin/dead-letters?limit=100');
      assert.equal(all.status, 200);
      assert.equal(all.json.object, 'list');
      assert.equal(all.json.has_more, false);
      assert.deepEqual(
        all.json.data.map((d: Json) => d.id),
        [...ids].reverse(),
      );
      const first = all.json.data.at(-1);
      assert.equal(first.object, 'dead_letter');
      assert.equal(first.consumer, 'fraud');
      assert.equal(first.event_type, 'payment.succeeded');
      assert.equal(first.partition_key.endsWith('/cus_a'), true);
      assert.equal(first.topic, 'payments');
      assert.equal(first.partition, 0);
      assert.equal(first.offset, 40);
      assert.equal(first.reason, 'handler_failed');
      assert.equal(first.attempts, 5);
      assert.equal(first.error, 'Error: boom 0');
      assert.equal(first.status, 'pending');
      assert.equal(first.discard_reason, null);
      assert.equal(first.redrives, 0);
      assert.equal(first.created, t0 / 1000);
      assert.equal(first.headers.ce_id, first.event_id);
      assert.equal(first.data.customer_id, 'cus_a');
      assert.equal(first.data.amount, 100);
      assert.equal('value' in first, false);
      const unreadable = all.json.data[0];
      assert.equal(unreadable.data, null);
      assert.equal(unreadable.value, '\u0001garbage');

      const byConsumer = await call('GET', '/v1/admin/dead-letters?consumer=audit');
      assert.deepEqual(
        byConsumer.json.data.map((d: Json) => d.id),
        [ids[5], ids[4], ids[2]],
      );
      const byType = await call('GET', '/v1/admin/dead-letters?type=refund.succeeded');
      assert.deepEqual(
        byType.json.data.map((d: Json) => d.id),
        [ids[3]],
      );
      const created = await call(
        'GET',
        `/v1/admin/dead-letters?created[gte]=${t0 / 1000 + 10}&created[lt]=${t0 / 1000 + 30}`,
      );
      assert.deepEqual(
        created.json.data.map((d: Json) => d.id),
        [ids[2], ids[1]],
      );
      const gt = await call('GET', `/v1/admin/dead-letters?created[gt]=${t0 / 1000 + 30}&consumer=fraud`);
      assert.deepEqual(gt.json.data, []);
      const discarded = await call('GET', '/v1/admin/dead-letters?status=discarded');
      assert.deepEqual(discarded.json.data, []);
    });

    test('pages with limit and starting_after', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await call(
          'GET',
          `/v1/admin/dead-letters?limit=4${cursor ? `&starting_after=${cursor}` : ''}`,
        );
        assert.equal(page.status, 200);
        seen.push(...page.json.data.map((d: Json) => d.id));
        if (!page.json.has_more) break;
        cursor = page.json.data.at(-1).id;
      }
      assert.deepEqual(seen, [...ids].reverse());
      const second = await call('GET', `/v1/admin/dead-letters?limit=4&starting_after=${ids[5]}`);
      assert.deepEqual(
        second.json.data.map((d: Json) => d.id),
        [ids[4], ids[3], ids[2], ids[1]],
      );
      assert.equal(second.json.has_more, true);
    });

    test('retrieves one; an unknown id is 404', async () => {
      const one = await call('GET', `/v1/admin/dead-letters/${ids[3]}`);
      assert.equal(one.status, 200);
      assert.equal(one.json.id, ids[3]);
      assert.equal(one.json.event_type, 'refund.succeeded');
      const missing = await call('GET', '/v1/admin/dead-letters/dl_nope');
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error.code, 'PAYSTREAM_NOT_FOUND');
    });

    test('bad filters and bad selections are 400 PAYSTREAM_VALIDATION naming the parameter, never 500', async () => {
      for (const [query, param] of [
        ['status=bogus', 'status'],
        ['limit=0', 'limit'],
        ['limit=101', 'limit'],
        ['limit=ten', 'limit'],
        ['created[gte]=yesterday', 'created[gte]'],
        ['created[lt]=1e20', 'created[lt]'],
        ['starting_after=pay_123', 'starting_after'],
        ['consumer=Receipts', 'consumer'],
        ['type=..', 'type'],
        ['colour=blue', 'colour'],
      ]) {
        const res = await call('GET', `/v1/admin/dead-letters?${query}`);
        assert.equal(res.status, 400, query);
        assert.equal(res.json.error.code, 'PAYSTREAM_VALIDATION', query);
        assert.equal(res.json.error.param, param, query);
      }
      for (const body of [
        {},
        { all: false },
        { all: true, ids: [ids[0]] },
        { ids: [] },
        { ids: ['dl_x'] },
        { filter: {} },
        { filter: { created: {} } },
        { filter: { consumer: 'fraud', colour: 'blue' } },
        { filter: { created: { gte: -1 } } },
        { everything: true },
      ]) {
        const res = await call('POST', '/v1/admin/dead-letters/redrive', { body });
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.json.error.code, 'PAYSTREAM_VALIDATION', JSON.stringify(body));
      }
      const noKey = await call('POST', '/v1/admin/dead-letters/redrive', { body: { all: true }, key: null });
      assert.equal(noKey.status, 400);
      assert.equal(noKey.json.error.code, 'PAYSTREAM_IDEMPOTENCY_KEY_REQUIRED');
      const all = await call('GET', '/v1/admin/dead-letters?status=pending&limit=100');
      assert.equal(all.json.data.length, ids.length, 'nothing changed');
    });

    test('discard needs a reason (400 PAYSTREAM_VALIDATION), then discards the selection and keeps the reason', async () => {
      for (const body of [
        { ids: [ids[4]] },
        { ids: [ids[4]], reason: '' },
        { ids: [ids[4]], reason: '   ' },
      ]) {
        const res = await call('POST', '/v1/admin/dead-letters/discard', { body });
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.json.error.code, 'PAYSTREAM_VALIDATION');
        assert.equal(res.json.error.param, 'reason');
      }
      assert.equal((await call('GET', `/v1/admin/dead-letters/${ids[4]}`)).json.status, 'pending');
      const res = await call('POST', '/v1/admin/dead-letters/discard', {
        body: { ids: [ids[4], ids[5]], reason: 'test data, ticket OPS-12' },
      });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { object: 'dead_letter_discard', discarded: 2 });
      const one = await call('GET', `/v1/admin/dead-letters/${ids[4]}`);
      assert.equal(one.json.status, 'discarded');
      assert.equal(one.json.discard_reason, 'test data, ticket OPS-12');
    });

    test('redrive marks the selection redrive_requested; a retry with its key replays the answer; another body is 422', async () => {
      const key = `redrive-fraud-${dialect}`;
      const body = { filter: { consumer: 'fraud', type: 'payment.succeeded' } };
      const res = await call('POST', '/v1/admin/dead-letters/redrive', { body, key });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { object: 'dead_letter_redrive', marked: 2 });
      const replay = await call('POST', '/v1/admin/dead-letters/redrive', { body, key });
      assert.equal(replay.status, 200);
      assert.deepEqual(replay.json, res.json);
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      const other = await call('POST', '/v1/admin/dead-letters/redrive', { body: { all: true }, key });
      assert.equal(other.status, 422);
      assert.equal(other.json.error.code, 'PAYSTREAM_IDEMPOTENCY_MISMATCH');
      const marked = await call('GET', '/v1/admin/dead-letters?status=redrive_requested');
      assert.deepEqual(
        marked.json.data.map((d: Json) => d.id),
        [ids[1], ids[0]],
      );
      // All: only the pending ones are marked (the discarded stay discarded).
      const all = await call('POST', '/v1/admin/dead-letters/redrive', { body: { all: true } });
      assert.deepEqual(all.json, { object: 'dead_letter_redrive', marked: 2 });
      assert.equal((await call('GET', `/v1/admin/dead-letters/${ids[4]}`)).json.status, 'discarded');
      const byIds = await call('POST', '/v1/admin/dead-letters/redrive', { body: { ids: [ids[0]] } });
      assert.deepEqual(byIds.json, { object: 'dead_letter_redrive', marked: 0 });
    });

    test('consumers: every known consumer with its group, lag and dead letters', async () => {
      const res = await call('GET', '/v1/admin/consumers');
      assert.equal(res.status, 200);
      assert.equal(res.json.object, 'list');
      const receipts = res.json.data.find((c: Json) => c.name === 'receipts');
      assert.ok(receipts, JSON.stringify(res.json));
      assert.equal(receipts.object, 'consumer');
      assert.equal(receipts.group, 'paystream.receipts');
      assert.deepEqual(receipts.topics, ['payments']);
      assert.deepEqual(receipts.dead_letters, { pending: 0, redrive_requested: 0 });
      if (dialect === 'sqlite') {
        // The embedded mode runs every consumer in the API's process.
        assert.equal(receipts.running_here, true);
        assert.equal(receipts.paused, false);
        assert.equal(receipts.lag.events, 0);
        assert.equal(receipts.lag.seconds, 0);
        assert.equal(receipts.lag.partitions.length, 1);
        assert.deepEqual(receipts.breakers, { smtp: 'closed' });
        assert.deepEqual(receipts.counts, { processed: 0, skipped: 0, failed: 0, dead_lettered: 0 });
      } else {
        // PostgreSQL without Kafka: no event log, no consumers here.
        assert.equal(receipts.running_here, false);
        assert.equal(receipts.lag, null);
        assert.equal(receipts.counts, null);
        assert.equal(receipts.paused, null);
      }
    });
  });
}
