import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { migrationSets } from '../../src/app/migrations.ts';
import { fromRecord } from '../../src/events/binary-mode.ts';
import { OutboxWriter } from '../../src/events/outbox.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import { OutboxRelay } from '../../src/relay/outbox-relay.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { EmbeddedTransport } from '../../src/transport/embedded/embedded-transport.ts';
import { startTestApp } from '../support/app.ts';
import { paymentSucceededEvent } from '../support/event-fixtures.ts';
import { Reader } from '../transport/reader.ts';

const ids = new IdGenerator();

const paymentSucceeded = (customer: string, n: number) => paymentSucceededEvent(ids, customer, 100 + n);

describe('outbox relay to the embedded log', () => {
  let dir: string;
  let store: SqliteStore;
  let transport: EmbeddedTransport;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'paystream-relay-'));
    const file = path.join(dir, 'paystream.sqlite');
    store = new SqliteStore(file, { migrations: migrationSets });
    await store.migrate();
    transport = new EmbeddedTransport({ store, file, groupLeaseMs: 600, pollIntervalMs: 100 });
  });
  after(async () => {
    await transport.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every outbox event reaches the log once, in outbox order, as a binary-mode CloudEvent, and leaves the outbox', async () => {
    const outbox = new OutboxWriter(ids, systemClock);
    const written: string[] = [];
    for (let n = 0; n < 1200; n += 1) {
      const envelope = await store.transaction((trx) =>
        outbox.write(trx, paymentSucceeded(`cus_${n % 7}`, n)),
      );
      written.push(envelope.id);
    }
    const relay = new OutboxRelay({ store, transport, batchMax: 500 });
    assert.deepEqual(await relay.stats().then((s) => s.backlog), 1200);
    let moved = 0;
    for (let round = 0; round < 3; round += 1) moved += await relay.publishRound();
    assert.equal(moved, 1200);
    assert.equal(await relay.publishRound(), 0, 'nothing is published twice');
    assert.deepEqual(await relay.stats(), { backlog: 0, oldestAgeMs: 0 });

    const sub = await transport.subscribe({
      group: 'relay-test',
      topics: ['payments'],
      startFrom: 'earliest',
    });
    const records = await new Reader(sub).take(1200);
    await sub.close();
    const events = records.map((r) => fromRecord(r));
    assert.deepEqual(
      events.map((e) => e.id),
      written,
    );
    for (const [i, r] of records.entries()) assert.equal(r.key, events[i]!.partitionkey);
  });

  test('of two relays one is active; when it stops, the other takes over and goes on', async () => {
    const outbox = new OutboxWriter(ids, systemClock);
    const first = new OutboxRelay({ store, transport, leaseMs: 300, idlePollMs: 5 });
    const second = new OutboxRelay({ store, transport, leaseMs: 300, idlePollMs: 5 });
    await first.start();
    await second.start();
    assert.equal([first.active, second.active].filter(Boolean).length, 1, 'exactly one is active');
    const [active, standby] = first.active ? [first, second] : [second, first];
    await active.stop();
    const written = await store.transaction((trx) => outbox.write(trx, paymentSucceeded('cus_takeover', 1)));
    for (let waited = 0; (await standby.stats()).backlog > 0; waited += 20) {
      assert.ok(waited < 3000, 'the standby relay published the event');
      await sleep(20);
    }
    assert.equal(standby.active, true);
    await standby.stop();
    const [lag] = await transport.lag('nobody-yet', 'payments');
    assert.ok(lag!.end >= 1201n);
    const last = await store.db
      .selectFrom('event_log')
      .select('headers')
      .where('topic', '=', 'payments')
      .orderBy('offset', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
    assert.equal(JSON.parse(last.headers).ce_id, written.id);
  });
});

test('in the embedded mode a payment reaches a subscriber of the payments topic', async () => {
  const t = await startTestApp('sqlite');
  try {
    const transport = t.app.transport!;
    const sub = await transport.subscribe({ group: 'e2e', topics: ['payments'], startFrom: 'earliest' });
    const paid = await t.post('/v1/payments', {
      customer_id: 'cus_flow',
      amount: 1500,
      currency: 'eur',
      payment_method: 'pm_card_visa',
    });
    assert.equal(paid.status, 200);
    const [record] = await new Reader(sub).take(1, 5000);
    await sub.close();
    const event = fromRecord(record!);
    assert.equal(event.type, 'payment.succeeded');
    assert.equal(event.subject, paid.json.id);
    assert.deepEqual((event.data as { amount: number }).amount, 1500);
  } finally {
    await t.close();
  }
});
