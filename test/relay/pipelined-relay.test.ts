import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KyselyPlugin } from 'kysely';
import pg from 'pg';
import { migrationSets } from '../../src/app/migrations.ts';
import { fromRecord } from '../../src/events/binary-mode.ts';
import { OutboxWriter } from '../../src/events/outbox.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import { OutboxRelay } from '../../src/relay/outbox-relay.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import type { OutgoingRecord, Transport } from '../../src/transport/transport.ts';
import { createTestDatabase, dialects } from '../support/dialects.ts';
import { paymentSucceededEvent } from '../support/event-fixtures.ts';

/**
 * The relay's loop to a transport outside the store (Kafka's path): each round moves what the
 * previous round published out of the outbox and reads the next rows, in one statement on
 * PostgreSQL. Moves that fail (the store refuses the statement or the transaction) must cost
 * duplicates only: every event is published, in outbox order per key, and archived once, and the
 * outbox ends empty.
 */
for (const dialect of dialects()) {
  test(`a relay whose moves and publishes fail now and then still publishes everything, in order, and archives it once (${dialect})`, async () => {
    const db = await createTestDatabase(dialect);
    const store = openStore(
      { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 4 },
      migrationSets,
    );
    const published: OutgoingRecord[] = [];
    // Every 3rd publish fails too (the broker refused the batch): those events must not leave the
    // outbox unpublished, though the next round's statement runs while they are being published.
    let publishes = 0;
    const transport = {
      engine: 'kafka',
      async publish(_topic: string, records: readonly OutgoingRecord[]) {
        await sleep(2); // a broker's acknowledgement takes a while: the next statement overlaps with it
        if (++publishes % 3 === 0) throw new Error('the broker refused');
        published.push(...records);
      },
    } as unknown as Transport;
    // Every 4th transaction fails, and every 4th statement outside one (PostgreSQL's rounds move
    // and read in one statement): the lease's and the moves' alike.
    let transactions = 0;
    let statements = 0;
    const refuseEvery4th: KyselyPlugin = {
      transformQuery(args) {
        if (++statements % 4 === 0) throw new Error('the store refused');
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const flaky: Store = {
      dialect: store.dialect,
      db: store.db.withPlugin(refuseEvery4th),
      transaction: (fn) =>
        ++transactions % 4 === 0 ? Promise.reject(new Error('the store refused')) : store.transaction(fn),
      migrate: () => store.migrate(),
      ready: () => store.ready(),
      close: () => store.close(),
    };
    const relay = new OutboxRelay({ store: flaky, transport, batchMax: 50, idlePollMs: 1, leaseMs: 2000 });
    try {
      await store.migrate();
      const ids = new IdGenerator();
      const outbox = new OutboxWriter(ids, systemClock);
      const written: string[] = [];
      for (let batch = 0; batch < 20; batch += 1) {
        const envelopes = await store.transaction(async (trx) => {
          const out = [];
          for (let i = 0; i < 50; i += 1) {
            out.push(
              await outbox.write(trx, paymentSucceededEvent(ids, `cus_${i % 7}`, 100 + batch * 50 + i)),
            );
          }
          return out;
        });
        written.push(...envelopes.map((e) => e.id));
      }
      await relay.start();
      const giveUpAt = Date.now() + 30_000;
      while (await store.db.selectFrom('outbox').select('position').limit(1).executeTakeFirst()) {
        assert.ok(Date.now() < giveUpAt, 'the outbox drains within 30 s');
        await sleep(20);
      }
      await relay.stop();

      const seen = published.map((r) => fromRecord(r));
      const distinct = new Set(seen.map((e) => e.id));
      assert.equal(distinct.size, written.length, 'every event was published');
      assert.ok(seen.length > written.length, 'failed moves were published again (the test exercised them)');
      // Per key, the first publication of each event follows outbox order.
      const firstSeen = new Map<string, number>();
      seen.forEach((e, i) => {
        if (!firstSeen.has(e.id)) firstSeen.set(e.id, i);
      });
      const writtenIndex = new Map(written.map((id, i) => [id, i]));
      const lastByKey = new Map<string, number>();
      for (const e of [...distinct].map((id) => seen[firstSeen.get(id)!]!)) {
        const index = writtenIndex.get(e.id)!;
        assert.ok((lastByKey.get(e.partitionkey) ?? -1) < index, `order of ${e.partitionkey}`);
        lastByKey.set(e.partitionkey, index);
      }
      const archived = await store.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(Number(archived.n), written.length, 'each event archived once');
    } finally {
      await relay.stop();
      await store.close();
      await db.drop();
    }
  });
}

/**
 * On PostgreSQL a row can commit after rows with higher positions. A relay that never idles (a
 * backlog) keeps reading after the previous round; it must still go back to the oldest row every
 * few rounds, or such a row would wait for the whole backlog to drain.
 */
for (const dialect of dialects().filter((d) => d === 'postgres')) {
  test(`under a backlog, a row that commits late below the rounds' positions is published soon (${dialect})`, async () => {
    const db = await createTestDatabase(dialect);
    const store = openStore(
      { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 4 },
      migrationSets,
    );
    const late = new pg.Client({ connectionString: db.databaseUrl });
    const published: OutgoingRecord[] = [];
    const transport = {
      engine: 'kafka',
      async publish(_topic: string, records: readonly OutgoingRecord[]) {
        await sleep(2);
        published.push(...records);
      },
    } as unknown as Transport;
    const relay = new OutboxRelay({ store, transport, batchMax: 50, idlePollMs: 1 });
    try {
      await store.migrate();
      const ids = new IdGenerator();
      const outbox = new OutboxWriter(ids, systemClock);
      // The late row takes its position first and commits only once the relay is busy.
      const { envelope, row } = outbox.prepare(paymentSucceededEvent(ids, 'cus_late', 100));
      await late.connect();
      await late.query('BEGIN');
      await late.query(
        'INSERT INTO outbox (event_id, type, partition_key, envelope, created_at) VALUES ($1, $2, $3, $4, $5)',
        [row.event_id, row.type, row.partition_key, row.envelope, row.created_at],
      );
      const total = 4000;
      for (let batch = 0; batch < total / 500; batch += 1) {
        await store.transaction(async (trx) => {
          for (let i = 0; i < 500; i += 1) {
            await outbox.write(trx, paymentSucceededEvent(ids, `cus_${i % 9}`, 200 + i));
          }
        });
      }
      await relay.start();
      while (published.length < 500) await sleep(1);
      await late.query('COMMIT');
      const giveUpAt = Date.now() + 30_000;
      while (!published.some((r) => fromRecord(r).id === envelope.id)) {
        assert.ok(Date.now() < giveUpAt, 'the late row is published');
        await sleep(1);
      }
      const before = published.findIndex((r) => fromRecord(r).id === envelope.id);
      assert.ok(
        before < total / 2,
        `published after ${before} of ${total} rows that were read before it: not after the whole backlog`,
      );
    } finally {
      await relay.stop();
      await late.end().catch(() => undefined);
      await store.close();
      await db.drop();
    }
  });
}

/**
 * A late commit must not reorder a customer: when its transaction finally commits, that
 * customer's next event (made only after the commit, as a refund follows its payment) comes after
 * it on the log, though its position is above every row the relay has read.
 */
for (const dialect of dialects().filter((d) => d === 'postgres')) {
  test(`a customer's event after a late commit is published after it, even under a backlog (${dialect})`, async () => {
    const db = await createTestDatabase(dialect);
    const store = openStore(
      { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 4 },
      migrationSets,
    );
    const late = new pg.Client({ connectionString: db.databaseUrl });
    const ids = new IdGenerator();
    const outbox = new OutboxWriter(ids, systemClock);
    const published: string[] = [];
    // The relay is held inside the publish of the first batch that the late row is below.
    let holdAt: string | undefined;
    let held: () => void = () => undefined;
    const holding = new Promise<void>((r) => {
      held = r;
    });
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const transport = {
      engine: 'kafka',
      async publish(_topic: string, records: readonly OutgoingRecord[]) {
        const events = records.map((r) => fromRecord(r));
        if (holdAt !== undefined && events.some((e) => e.id === holdAt)) {
          held();
          await released;
        }
        published.push(...events.map((e) => e.id));
      },
    } as unknown as Transport;
    const relay = new OutboxRelay({ store, transport, batchMax: 5, idlePollMs: 1 });
    const write = (customer: string, amount: number) =>
      store.transaction((trx) => outbox.write(trx, paymentSucceededEvent(ids, customer, amount)));
    try {
      await store.migrate();
      // The late row takes its position first and commits later.
      const { envelope: first, row } = outbox.prepare(paymentSucceededEvent(ids, 'cus_late', 1));
      await late.connect();
      await late.query('BEGIN');
      await late.query(
        'INSERT INTO outbox (event_id, type, partition_key, envelope, created_at) VALUES ($1, $2, $3, $4, $5)',
        [row.event_id, row.type, row.partition_key, row.envelope, row.created_at],
      );
      // A full batch above it: the relay reads it (not the late row, not yet committed) and, the
      // batch being full, reads on after it without going back to the oldest row.
      const above: string[] = [];
      for (let i = 0; i < 5; i += 1) above.push((await write(`cus_${i % 7}`, 200 + i)).id);
      holdAt = above[0];
      await relay.start();
      // The relay has read past the late row's position; now it commits, and the same customer's
      // next event is written.
      await holding;
      await late.query('COMMIT');
      const second = await write('cus_late', 2);
      release();
      const giveUpAt = Date.now() + 30_000;
      while (!(published.includes(first.id) && published.includes(second.id))) {
        assert.ok(Date.now() < giveUpAt, 'both events of cus_late are published');
        await sleep(5);
      }
      assert.ok(
        published.indexOf(first.id) < published.indexOf(second.id),
        `cus_late's first event at ${published.indexOf(first.id)}, its second at ${published.indexOf(second.id)}`,
      );
    } finally {
      release();
      await relay.stop();
      await late.end().catch(() => undefined);
      await store.close();
      await db.drop();
    }
  });
}
