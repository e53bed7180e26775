import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Kysely, sql, type Transaction } from 'kysely';
import { migrationSets } from '../../src/app/migrations.ts';
import { OutboxWriter } from '../../src/events/outbox.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import type { Database } from '../../src/store/database.ts';
import { TransactionDeadlineError } from '../../src/store/deadline.ts';
import { leaseHolder, releaseLease, tryAcquireLease } from '../../src/store/leases/lease.ts';
import { openStore } from '../../src/store/open.ts';
import { type Dialect, type Store, toBigInt } from '../../src/store/store.ts';
import { createTestDatabase, dialects, type TestDatabase } from '../support/dialects.ts';

const ids = new IdGenerator();

function paymentRow(id: string, amount = 1000) {
  return {
    id,
    merchant_id: 'acct_contract',
    livemode: 0,
    customer_id: 'cus_contract',
    amount,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    description: null,
    metadata: '{}',
    status: 'succeeded' as const,
    failure_code: null,
    failure_message: null,
    gateway_charge_id: null,
    amount_refunded: 0,
    amount_refund_reserved: 0,
    created_at: Date.now(),
    updated_at: Date.now(),
  };
}

async function countPayments(store: Store, id: string): Promise<number> {
  return (await store.db.selectFrom('payments').select('id').where('id', '=', id).execute()).length;
}

/** The store port's contract: every dialect must pass all of it. */
for (const dialect of dialects()) {
  describe(`store contract (${dialect})`, () => {
    let db: TestDatabase;
    let store: Store;
    before(async () => {
      db = await createTestDatabase(dialect);
      store = openStore(
        { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 10 },
        migrationSets,
      );
    });
    after(async () => {
      await store.close();
      await db.drop();
    });

    test('migrations apply once, are reported ready, and re-running applies nothing', async () => {
      assert.equal(await store.ready(), false, 'not ready before migrating');
      assert.deepEqual(await store.migrate(), [
        'leases/0001_leases',
        'admin/0001_api_keys',
        'admin/0002_key_roles',
        'idempotency/0001_idempotency_records',
        'idempotency/0002_scope_per_merchant_and_mode',
        'payments/0001_payments_and_refunds',
        'payments/0002_reconcile_backoff',
        'payments/0003_reconcile_due_index',
        'payments/0004_receipt_fields',
        'events/0001_outbox',
        'events/0002_events',
        'event_log/0001_event_log',
        'runtime/0001_inbox_dead_letters',
        'receipts/0001_receipts_and_mailbox',
      ]);
      assert.deepEqual(await store.migrate(), []);
      assert.equal(await store.ready(), true);
    });

    test('tables made before they were split by context are adopted, with their rows', async () => {
      // A database from before: every table exists, no context has bookkeeping of its own yet.
      const legacy = await createTestDatabase(dialect);
      const config = { databaseUrl: legacy.databaseUrl, sqlitePath: legacy.sqlitePath, databasePoolMax: 2 };
      try {
        // What 0.1 made in its one migration: the first migration of these four contexts.
        const legacySets = migrationSets
          .filter((set) => ['admin', 'idempotency', 'payments', 'events'].includes(set.name))
          .map((set) => ({
            name: set.name,
            migrations: (d: Dialect) =>
              Object.fromEntries(
                Object.entries(set.migrations(d)).filter(([name]) => name.startsWith('0001_')),
              ),
          }));
        const first = openStore(config, legacySets);
        await first.migrate();
        const id = ids.resource('pay');
        await first.transaction((trx) => trx.insertInto('payments').values(paymentRow(id)).execute());
        // An API key and a key record of 0.1's shape (no merchant columns yet).
        await first.transaction(async (trx) => {
          await sql`INSERT INTO api_keys (id, merchant_id, livemode, secret_hash, redacted, name, created_at)
                    VALUES ('key_legacy', 'acct_legacy', 0, 'hash', 'sk_test_...', NULL, 1)`.execute(trx);
          await sql`INSERT INTO idempotency_records (api_key_id, key, fingerprint, state, resource_id, created_at)
                    VALUES ('key_legacy', 'k1', 'f', 'in_flight', ${id}, 1)`.execute(trx);
        });
        await first.transaction(async (trx) => {
          for (const set of legacySets) {
            await trx.schema.dropTable(`${set.name}_migrations`).execute();
            await trx.schema.dropTable(`${set.name}_migrations_lock`).execute();
          }
        });
        await first.close();
        const reopened = openStore(config, migrationSets);
        const applied = await reopened.migrate();
        for (const set of legacySets) assert.ok(applied.some((name) => name.startsWith(`${set.name}/0001_`)));
        assert.ok(applied.includes('payments/0002_reconcile_backoff'), 'later migrations apply on top');
        const record = await reopened.db
          .selectFrom('idempotency_records')
          .select(['merchant_id', 'livemode', 'state'])
          .where('key', '=', 'k1')
          .executeTakeFirstOrThrow();
        assert.deepEqual(
          { ...record, livemode: Number(record.livemode) },
          { merchant_id: 'acct_legacy', livemode: 0, state: 'in_flight' },
          'an in-flight key record keeps working after the scope moved to merchant + mode',
        );
        assert.equal(await reopened.ready(), true);
        assert.equal(await countPayments(reopened, id), 1);
        await reopened.close();
      } finally {
        await legacy.drop();
      }
    });

    test('a committed transaction is visible; a thrown one leaves nothing', async () => {
      const kept = ids.resource('pay');
      const dropped = ids.resource('pay');
      await store.transaction((trx) => trx.insertInto('payments').values(paymentRow(kept)).execute());
      await assert.rejects(
        store.transaction(async (trx) => {
          await trx.insertInto('payments').values(paymentRow(dropped)).execute();
          throw new Error('abort');
        }),
        /abort/,
      );
      assert.equal(await countPayments(store, kept), 1);
      assert.equal(await countPayments(store, dropped), 0);
    });

    test('concurrent transactions commit or fail alone (group commit keeps them apart)', async () => {
      const made = Array.from({ length: 40 }, () => ids.resource('pay'));
      const results = await Promise.allSettled(
        made.map((id, i) =>
          store.transaction(async (trx) => {
            await trx.insertInto('payments').values(paymentRow(id)).execute();
            if (i % 4 === 0) throw new Error(`fail ${i}`);
            return i;
          }),
        ),
      );
      for (const [i, r] of results.entries()) assert.equal(r.status, i % 4 === 0 ? 'rejected' : 'fulfilled');
      for (const [i, id] of made.entries()) assert.equal(await countPayments(store, id), i % 4 === 0 ? 0 : 1);
    });

    test('a constraint violation rolls back only its own transaction', async () => {
      const id = ids.resource('pay');
      const other = ids.resource('pay');
      const [dup, ok] = await Promise.allSettled([
        store.transaction(async (trx) => {
          await trx.insertInto('payments').values(paymentRow(id)).execute();
          await trx.insertInto('payments').values(paymentRow(id)).execute();
        }),
        store.transaction((trx) => trx.insertInto('payments').values(paymentRow(other)).execute()),
      ]);
      assert.equal(dup.status, 'rejected');
      assert.equal(ok.status, 'fulfilled');
      assert.equal(await countPayments(store, id), 0);
      assert.equal(await countPayments(store, other), 1);
    });

    test('a callback past its deadline fails alone and delays the others no longer than that', async () => {
      const deadlineMs = 300;
      const timed = openStore(
        { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 10 },
        migrationSets,
        { transactionDeadlineMs: deadlineMs },
      );
      try {
        const early = ids.resource('pay');
        const late = ids.resource('pay');
        const slow = timed
          .transaction(async (trx) => {
            await trx.insertInto('payments').values(paymentRow(early)).execute();
            await sleep(deadlineMs * 4); // waits on the outside world: a bug the store must contain
            await trx.insertInto('payments').values(paymentRow(late)).execute();
          })
          .then(
            () => undefined,
            (error: unknown) => error,
          );
        await sleep(20); // the others arrive while the slow one runs
        const others = Array.from({ length: 10 }, () => ids.resource('pay'));
        const startedAt = performance.now();
        await Promise.all(
          others.map((id) =>
            timed.transaction((trx) => trx.insertInto('payments').values(paymentRow(id)).execute()),
          ),
        );
        const waitedMs = performance.now() - startedAt;
        assert.ok(waitedMs < deadlineMs + 250, `the others waited ${Math.round(waitedMs)} ms`);
        assert.ok(
          (await slow) instanceof TransactionDeadlineError,
          'the slow callback fails with the deadline',
        );
        await sleep(deadlineMs * 4); // the abandoned callback wakes up and tries its second write
        assert.equal(await countPayments(timed, early), 0, 'its first write was rolled back');
        assert.equal(await countPayments(timed, late), 0, 'its write after the deadline went nowhere');
        for (const id of others) assert.equal(await countPayments(timed, id), 1);
      } finally {
        await timed.close();
      }
    });

    test('a callback that reads through db, not its trx, sees the last commit and does not deadlock', {
      timeout: 10_000,
    }, async () => {
      const id = ids.resource('pay');
      const seenInside = await store.transaction(async (trx) => {
        await trx.insertInto('payments').values(paymentRow(id)).execute();
        return countPayments(store, id);
      });
      assert.equal(seenInside, 0, 'db reads committed data, not the open transaction');
      assert.equal(await countPayments(store, id), 1);
    });

    test('reads do not wait behind a running transaction', async () => {
      const id = ids.resource('pay');
      await store.transaction((trx) => trx.insertInto('payments').values(paymentRow(id)).execute());
      const holdMs = 500;
      const held = store.transaction(async (trx) => {
        await trx.updateTable('payments').set({ description: 'held' }).where('id', '=', id).execute();
        await sleep(holdMs);
      });
      await sleep(20);
      const startedAt = performance.now();
      assert.equal(await countPayments(store, id), 1);
      const readMs = performance.now() - startedAt;
      await held;
      assert.ok(readMs < holdMs / 2, `the read waited ${Math.round(readMs)} ms`);
    });

    test('a lease has one holder at a time, and passes on when it lapses or is released', async () => {
      const other = openStore(
        { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 10 },
        migrationSets,
      );
      try {
        const now = Date.now();
        const name = `contract-${ids.uuid()}`;
        const wins = await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            tryAcquireLease(i % 2 ? other : store, name, `owner-${i}`, now, 1000),
          ),
        );
        assert.equal(wins.filter(Boolean).length, 1, 'exactly one contender wins');
        const holder = `owner-${wins.indexOf(true)}`;
        assert.equal(await leaseHolder(store.db, name, now), holder);
        assert.equal(await tryAcquireLease(store, name, holder, now + 500, 1000), true, 'the holder renews');
        assert.equal(
          await tryAcquireLease(other, name, 'late', now + 1400, 1000),
          false,
          'renewed: not lapsed',
        );
        assert.equal(
          await tryAcquireLease(other, name, 'late', now + 1501, 1000),
          true,
          'lapsed: taken over',
        );
        await releaseLease(other, name, 'late');
        assert.equal(
          await tryAcquireLease(store, name, 'next', now + 1502, 1000),
          true,
          'released: free at once',
        );
      } finally {
        await other.close();
      }
    });

    test('amounts are exact 64-bit integers, beyond what a double holds', async () => {
      // 2^53 + 1 is the first integer a double cannot hold; 2^63 - 1 is bigint's largest.
      for (const amount of [9_007_199_254_740_993n, 9_223_372_036_854_775_807n]) {
        const id = ids.resource('pay');
        await store.transaction((trx) =>
          trx
            .insertInto('payments')
            .values({ ...paymentRow(id), amount: amount.toString() })
            .execute(),
        );
        const row = await store.db
          .selectFrom('payments')
          .select(['amount', 'amount_refunded'])
          .where('id', '=', id)
          .executeTakeFirstOrThrow();
        assert.equal(toBigInt(row.amount), amount);
        assert.equal(Number(row.amount_refunded), 0);
      }
    });

    test('the database refuses a refund total above the amount, whatever the code does', async () => {
      const id = ids.resource('pay');
      await store.transaction((trx) => trx.insertInto('payments').values(paymentRow(id, 100)).execute());
      await assert.rejects(
        store.transaction((trx) =>
          trx.updateTable('payments').set({ amount_refund_reserved: 101 }).where('id', '=', id).execute(),
        ),
      );
      await assert.rejects(
        store.transaction((trx) =>
          trx
            .insertInto('payments')
            .values(paymentRow(ids.resource('pay'), -5))
            .execute(),
        ),
      );
    });

    test('outbox positions follow commit order and event ids are unique', async () => {
      const outbox = new OutboxWriter(ids, systemClock);
      const written: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        const envelope = await store.transaction((trx) =>
          outbox.write(trx, {
            type: 'payment.succeeded',
            subject: `pay_${'0'.repeat(25)}${i}`,
            partitionKey: 'cus_contract',
            data: {
              payment_id: `pay_${'0'.repeat(25)}${i}`,
              merchant_id: `acct_${'0'.repeat(26)}`,
              customer_id: 'cus_contract',
              amount: 100,
              currency: 'usd',
              payment_method: 'pm_card_visa',
              description: null,
              metadata: {},
              livemode: false,
              created: 1,
              gateway_charge_id: 'ch_1',
              receipt_email: null,
              statement_descriptor: null,
            },
          }),
        );
        written.push(envelope.id);
      }
      const rows = await store.db
        .selectFrom('outbox')
        .select(['event_id', 'position'])
        .orderBy('position')
        .execute();
      assert.deepEqual(
        rows.map((r) => r.event_id),
        written,
      );
      await assert.rejects(
        store.transaction((trx) =>
          trx
            .insertInto('outbox')
            .values({ event_id: written[0]!, type: 't', partition_key: 'k', envelope: '{}', created_at: 0 })
            .execute(),
        ),
      );
    });

    test('the outbox writer refuses data that breaks the schema, and writes nothing', async () => {
      const outbox = new OutboxWriter(ids, systemClock);
      const before = (await store.db.selectFrom('outbox').select('position').execute()).length;
      await assert.rejects(
        store.transaction((trx) =>
          outbox.write(trx, {
            type: 'payment.succeeded',
            subject: 'x',
            partitionKey: 'k',
            data: { amount: -1 },
          }),
        ),
        /payment.succeeded data is invalid/,
      );
      assert.equal((await store.db.selectFrom('outbox').select('position').execute()).length, before);
    });
  });
}

test('the outbox writer only accepts a transaction (checked by tsc)', () => {
  const outbox = new OutboxWriter(ids, systemClock);
  const event = { type: 'payment.succeeded', subject: '', partitionKey: '', data: {} } as const;
  const typeCheckOnly = (db: Kysely<Database>, trx: Transaction<Database>) => {
    // @ts-expect-error a plain Kysely handle is not a Transaction: events cannot be written outside one
    const outside = () => outbox.write(db, event);
    const inside = () => outbox.write(trx, event);
    return [outside, inside];
  };
  assert.equal(typeof typeCheckOnly, 'function');
});
