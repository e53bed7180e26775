import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompiledQuery, sql } from 'kysely';
import { migrationSets } from '../../src/app/migrations.ts';
import { duePayments, dueRefunds, Reconciler, reconcilerLeaseName } from '../../src/payments/reconciler.ts';
import { findPayment } from '../../src/payments/repository.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';
import { writtenEvents } from '../support/events.ts';

const base = { customer_id: 'cus_slow', amount: 4200, currency: 'usd' };

async function eventsAbout(t: TestApp, subject: string) {
  return (await writtenEvents(t.app.store)).filter((e) => e.subject === subject);
}

/**
 * A `processing` payment the gateway never heard of, as a crash between the claim and the charge
 * leaves one: a copy of a real payment's row under another id.
 */
async function insertProcessingCopy(t: TestApp, id: string, at: number, merchantId?: string): Promise<void> {
  const template = (await t.post('/v1/payments', { ...base, payment_method: 'pm_card_visa' })).json;
  await t.app.store.transaction(async (trx) => {
    const row = await trx
      .selectFrom('payments')
      .selectAll()
      .where('id', '=', template.id)
      .executeTakeFirstOrThrow();
    await trx
      .insertInto('payments')
      .values({
        ...row,
        id,
        merchant_id: merchantId ?? row.merchant_id,
        status: 'processing',
        gateway_charge_id: null,
        created_at: at,
        updated_at: at,
      })
      .execute();
  });
}

for (const dialect of dialects()) {
  describe(`lost gateway answers and the reconciler (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      // The sandbox holds timeout answers for 5 s; the API gives up after 300 ms.
      t = await startTestApp(dialect, {
        PAYSTREAM_GATEWAY_TIMEOUT_MS: '300',
        PAYSTREAM_RECONCILE_AFTER_MS: '400',
      });
    });
    after(() => t.close());

    for (const token of ['pm_card_paystream_timeout', 'pm_card_paystream_networkError']) {
      test(`${token}: processing, 409 on retry, then settled once by the reconciler`, async () => {
        const key = `${token}-${dialect}`;
        const body = { ...base, payment_method: token };
        const first = await t.post('/v1/payments', body, key);
        assert.equal(first.status, 200);
        assert.equal(first.json.status, 'processing');
        assert.deepEqual(await eventsAbout(t, first.json.id), [], 'no event before the outcome is known');

        const retry = await t.post('/v1/payments', body, key);
        assert.equal(retry.status, 409);
        assert.equal(retry.json.error.code, 'PAYSTREAM_IDEMPOTENCY_IN_FLIGHT');

        await sleep(450);
        const report = await t.app.reconciler.runOnce();
        assert.ok(report.settled >= 1);
        assert.equal(report.resent, 0, 'the gateway had the charge: nothing is sent again');

        const settled = (await t.get(`/v1/payments/${first.json.id}`)).json;
        assert.equal(settled.status, 'succeeded');
        const events = await eventsAbout(t, first.json.id);
        assert.deepEqual(
          events.map((e) => e.type),
          ['payment.succeeded'],
        );
        const charges = await t.sandbox.store.db
          .selectFrom('charges')
          .selectAll()
          .where('idempotency_key', '=', first.json.id)
          .execute();
        assert.equal(charges.length, 1);
        assert.equal(events[0].data.gateway_charge_id, charges[0]!.id);

        // A second reconciler run, and a late direct settlement, change nothing.
        await t.app.reconciler.runOnce();
        const settledRow = await findPayment(t.app.store.db, first.json.id);
        const staleSnapshot = {
          ...settledRow!,
          status: 'processing' as const,
          updatedAt: settledRow!.createdAt,
        };
        await t.app.payments.settlePayment(staleSnapshot, {
          status: 'failed',
          chargeId: 'x',
          declineCode: 'x',
          message: 'x',
        });
        assert.equal((await eventsAbout(t, first.json.id)).length, 1);
        assert.equal((await t.get(`/v1/payments/${first.json.id}`)).json.status, 'succeeded');

        const replay = await t.post('/v1/payments', body, key);
        assert.equal(replay.status, 200);
        assert.equal(replay.headers['idempotent-replayed'], 'true');
        assert.equal(replay.json.status, 'succeeded');
      });
    }

    test('a charge that never reached the gateway is sent again with the same key, once', async () => {
      // Simulate a crash between claiming the key and calling the gateway: a processing payment the
      // gateway never heard of.
      const now = Date.now();
      const orphan = `pay_ORPHAN${String(now).padStart(20, '0')}`.slice(0, 30);
      await insertProcessingCopy(t, orphan, now);
      const early = await t.app.reconciler.runOnce();
      assert.equal(early.resent, 0, 'too young: its request may still be on its way to the gateway');
      assert.equal((await t.get(`/v1/payments/${orphan}`)).json.status, 'processing');
      await sleep(450);
      const report = await t.app.reconciler.runOnce();
      assert.equal(report.resent, 1);
      assert.equal((await t.get(`/v1/payments/${orphan}`)).json.status, 'succeeded');
      await t.app.reconciler.runOnce();
      const charges = await t.sandbox.store.db
        .selectFrom('charges')
        .selectAll()
        .where('idempotency_key', '=', orphan)
        .execute();
      assert.equal(charges.length, 1);
      assert.equal((await eventsAbout(t, orphan)).length, 1);
    });

    test('one payment that cannot be settled does not hold up the others', async () => {
      const now = Date.now();
      // The oldest is broken: its event can never pass the schema (a malformed merchant id).
      const broken = `pay_BROKEN${'0'.repeat(20)}`;
      const healthy = `pay_HEALTHY${'0'.repeat(19)}`;
      await insertProcessingCopy(t, broken, now - 5000, 'acct_not_a_valid_id');
      await insertProcessingCopy(t, healthy, now - 4000);
      const errors: unknown[] = [];
      const report = await new Reconciler({
        store: t.app.store,
        gateway: t.app.gateway,
        payments: t.app.payments,
        clock: { now: () => Date.now() },
        reconcileAfterMs: 400,
        onError: (e) => errors.push(e),
      }).runOnce();
      assert.equal(report.failed, 1);
      assert.equal(errors.length, 1);
      assert.match(String((errors[0] as Error).message), /payment pay_BROKEN/);
      const statusOf = async (id: string) => (await findPayment(t.app.store.db, id))?.status;
      assert.equal(await statusOf(healthy), 'succeeded');
      assert.equal(await statusOf(broken), 'processing', 'rolled back, retried next run');
      await t.app.store.transaction((trx) => trx.deleteFrom('payments').where('id', '=', broken).execute());
    });

    test('more broken items than one batch never keep a healthy stuck payment from settling', async () => {
      const now = Date.now();
      const broken = Array.from({ length: 12 }, (_, i) => `pay_BROKEN${String(i).padStart(20, '0')}`);
      const healthy = `pay_WELL${'0'.repeat(22)}`;
      for (const [i, id] of broken.entries()) await insertProcessingCopy(t, id, now - 60_000 + i);
      await insertProcessingCopy(t, healthy, now - 1000);
      // The broken ones: the gateway cannot tell what happened to them, run after run.
      const gateway = {
        ...t.app.gateway,
        findCharge: async (key: string) =>
          broken.includes(key)
            ? { status: 'unknown' as const, reason: 'still unknown' }
            : t.app.gateway.findCharge(key),
        charge: t.app.gateway.charge.bind(t.app.gateway),
      };
      const reconciler = new Reconciler({
        store: t.app.store,
        gateway,
        payments: t.app.payments,
        clock: { now: () => Date.now() },
        reconcileAfterMs: 400,
        batchSizeMax: 5,
        retryBackoffBaseMs: 60_000,
        random: () => 0.5,
      });
      const statusOf = async (id: string) => (await findPayment(t.app.store.db, id))?.status;
      let runs = 0;
      while ((await statusOf(healthy)) === 'processing' && runs < 4) {
        await reconciler.runOnce();
        runs += 1;
      }
      assert.equal(await statusOf(healthy), 'succeeded', `still processing after ${runs} runs of 5`);
      const attempts = await t.app.store.db
        .selectFrom('payments')
        .select(['reconcile_attempts', 'reconcile_next_at'])
        .where('id', 'in', broken)
        .execute();
      for (const row of attempts) {
        assert.equal(Number(row.reconcile_attempts), 1, 'each broken item was tried once, then postponed');
        assert.ok(Number(row.reconcile_next_at) >= now + 30_000, 'postponed by the backoff');
      }
      await t.app.store.transaction((trx) => trx.deleteFrom('payments').where('id', 'in', broken).execute());
    });

    test('only one process reconciles; a standby takes over when it stops', async () => {
      const second = openStore(
        { databaseUrl: t.db.databaseUrl, sqlitePath: t.db.sqlitePath, databasePoolMax: 2 },
        migrationSets,
      );
      const lookups = [0, 0];
      const counting = (n: number) => ({
        ...t.app.gateway,
        findCharge: async (key: string) => {
          lookups[n]! += 1;
          return t.app.gateway.findCharge(key);
        },
        charge: t.app.gateway.charge.bind(t.app.gateway),
      });
      const make = (n: number, store: typeof t.app.store) =>
        new Reconciler({
          store,
          gateway: counting(n),
          payments: t.app.payments,
          clock: { now: () => Date.now() },
          reconcileAfterMs: 400,
          leaseMs: 300,
        });
      const a = make(0, t.app.store);
      const b = make(1, second);
      try {
        // The app's own reconciler holds the lease until stopped: step it aside first.
        await t.app.reconciler.stop();
        await a.start(20);
        await b.start(20);
        assert.equal([a.active, b.active].filter(Boolean).length, 1, 'exactly one is active');
        const [active, standby, standbyIndex] = a.active ? [a, b, 1] : [b, a, 0];
        const stuck = `pay_LEASE${'0'.repeat(21)}`;
        await insertProcessingCopy(t, stuck, Date.now() - 1000);
        await sleep(300);
        assert.equal(lookups[standbyIndex], 0, 'the standby asked the gateway nothing');
        await active.stop();
        const processing = `pay_LATER${'0'.repeat(21)}`;
        await insertProcessingCopy(t, processing, Date.now() - 1000);
        for (
          let waited = 0;
          (await findPayment(t.app.store.db, processing))?.status === 'processing';
          waited += 50
        ) {
          assert.ok(waited < 5000, 'the standby took over and settled it');
          await sleep(50);
        }
        assert.equal(standby.active, true);
      } finally {
        await a.stop();
        await b.stop();
        await second.close();
      }
    });

    test('a holder that stops renewing is replaced once its lease has expired; a standby does nothing meanwhile', async () => {
      await t.app.reconciler.stop();
      const second = openStore(
        { databaseUrl: t.db.databaseUrl, sqlitePath: t.db.sqlitePath, databasePoolMax: 2 },
        migrationSets,
      );
      // The holder's process "dies" (kill -9, or a frozen host): from then on its writes never
      // happen and never return, so it neither renews nor releases the lease.
      let holderDead = false;
      let testOver = false;
      const unanswered: Array<(error: Error) => void> = [];
      const gone = () => new Error('the process is gone');
      const own = t.app.store;
      const dying: Store = {
        dialect: own.dialect,
        db: own.db,
        transaction: (fn) => {
          if (!holderDead) return own.transaction(fn);
          if (testOver) return Promise.reject(gone());
          return new Promise((_, reject) => unanswered.push(reject));
        },
        migrate: () => own.migrate(),
        ready: () => own.ready(),
        close: async () => {},
      };
      const lookups = [0, 0];
      const make = (n: number, store: Store, intervalMs: number) => {
        const reconciler = new Reconciler({
          store,
          gateway: {
            ...t.app.gateway,
            findCharge: async (key: string) => {
              lookups[n]! += 1;
              return t.app.gateway.findCharge(key);
            },
            charge: t.app.gateway.charge.bind(t.app.gateway),
          },
          payments: t.app.payments,
          clock: { now: () => Date.now() },
          reconcileAfterMs: 400,
          leaseMs: 600,
        });
        return { reconciler, start: () => reconciler.start(intervalMs) };
      };
      // The holder runs once, at start (nothing is stuck yet); the standby tries every 20 ms.
      const holder = make(0, dying, 3_600_000);
      const standby = make(1, second, 20);
      const leaseRow = () =>
        own.db
          .selectFrom('leases')
          .select(['owner', 'expires_at'])
          .where('name', '=', reconcilerLeaseName)
          .executeTakeFirstOrThrow();
      try {
        await holder.start();
        await standby.start();
        assert.equal(holder.reconciler.active, true);
        assert.equal(standby.reconciler.active, false);
        await sleep(200);

        const stuck = `pay_DEADHOLDER${'0'.repeat(16)}`;
        await insertProcessingCopy(t, stuck, Date.now() - 1000);
        assert.deepEqual(
          await standby.reconciler.runOnce(),
          { settled: 0, resent: 0, stillUnknown: 0, failed: 0 },
          "a standby's run does nothing",
        );
        assert.deepEqual(lookups, [0, 0]);

        // Die just after a renewal, so the lease has most of its length left.
        const renewed = await leaseRow();
        for (let waited = 0; (await leaseRow()).expires_at === renewed.expires_at; waited += 10) {
          assert.ok(waited < 5000, 'the holder renews its lease');
          await sleep(10);
        }
        holderDead = true;
        const { owner, expires_at: expiresAt } = await leaseRow();

        for (let waited = 0; !standby.reconciler.active; waited += 20) {
          assert.ok(waited < 5000, 'the standby takes over');
          await sleep(20);
        }
        assert.ok(Date.now() >= Number(expiresAt), 'not before the lease expired: it was never released');
        assert.notEqual((await leaseRow()).owner, owner);
        assert.equal(holder.reconciler.active, false, 'the dead holder no longer counts itself the holder');
        for (let waited = 0; (await findPayment(own.db, stuck))?.status === 'processing'; waited += 20) {
          assert.ok(waited < 5000, 'the new holder settles the stuck payment');
          await sleep(20);
        }
        assert.equal(lookups[0], 0, 'the dead holder asked the gateway nothing');
      } finally {
        testOver = true;
        for (const reject of unanswered) reject(gone());
        await holder.reconciler.stop();
        await standby.reconciler.stop();
        await second.close();
      }
    });

    test('a holder that loses the lease during a run stops before its next item', async () => {
      await t.app.reconciler.stop();
      const now = Date.now();
      const stuck = [0, 1, 2].map((i) => `pay_MIDRUN${String(i).padStart(20, '0')}`);
      for (const [i, id] of stuck.entries()) await insertProcessingCopy(t, id, now - 5000 + i);
      const looked: string[] = [];
      const reconciler = new Reconciler({
        store: t.app.store,
        gateway: {
          ...t.app.gateway,
          findCharge: async (key: string) => {
            if (stuck.includes(key)) looked.push(key);
            if (looked.length === 1 && key === stuck[0]) {
              // While this lookup hangs, the lease lapses and another process takes it.
              await t.app.store.transaction((trx) =>
                trx
                  .updateTable('leases')
                  .set({ owner: 'another process', expires_at: Date.now() + 60_000 })
                  .where('name', '=', reconcilerLeaseName)
                  .execute(),
              );
              await sleep(400);
            }
            return t.app.gateway.findCharge(key);
          },
          charge: t.app.gateway.charge.bind(t.app.gateway),
        },
        payments: t.app.payments,
        clock: { now: () => Date.now() },
        reconcileAfterMs: 400,
        leaseMs: 300,
      });
      try {
        await reconciler.start(3_600_000);
        for (let waited = 0; looked.length === 0; waited += 20) {
          assert.ok(waited < 5000, 'the run starts');
          await sleep(20);
        }
      } finally {
        await reconciler.stop(); // waits for the run
      }
      assert.deepEqual(looked, [stuck[0]], 'nothing after the item during which the lease was lost');
      const rest = await t.app.store.db
        .selectFrom('payments')
        .select(['status', 'reconcile_attempts'])
        .where('id', 'in', stuck.slice(1))
        .execute();
      assert.deepEqual(
        rest.map((r) => [r.status, Number(r.reconcile_attempts)]),
        [
          ['processing', 0],
          ['processing', 0],
        ],
      );
      await t.app.store.transaction(async (trx) => {
        await trx.deleteFrom('leases').where('name', '=', reconcilerLeaseName).execute();
        await trx.deleteFrom('payments').where('id', 'in', stuck.slice(1)).execute();
      });
    });

    test('an item whose outcome was unknown is tried again when due, and settles', async () => {
      const id = `pay_RETRY${'0'.repeat(21)}`;
      const insertedAt = Date.now() - 1000;
      await insertProcessingCopy(t, id, insertedAt);
      let gatewayKnows = false;
      let now = Date.now();
      const reconciler = new Reconciler({
        store: t.app.store,
        gateway: {
          ...t.app.gateway,
          findCharge: async (key: string) =>
            key === id && !gatewayKnows
              ? { status: 'unknown' as const, reason: 'the processor is down' }
              : t.app.gateway.findCharge(key),
          charge: t.app.gateway.charge.bind(t.app.gateway),
        },
        payments: t.app.payments,
        clock: { now: () => now },
        reconcileAfterMs: 400,
        retryBackoffBaseMs: 10_000,
        random: () => 0,
      });
      const row = () =>
        t.app.store.db
          .selectFrom('payments')
          .select(['status', 'updated_at', 'reconcile_attempts', 'reconcile_next_at'])
          .where('id', '=', id)
          .executeTakeFirstOrThrow();

      assert.equal((await reconciler.runOnce()).stillUnknown, 1);
      const postponed = await row();
      assert.equal(Number(postponed.reconcile_attempts), 1);
      assert.equal(Number(postponed.reconcile_next_at), now + 5000, 'half the base wait (jitter 0)');
      assert.equal(Number(postponed.updated_at), insertedAt, 'the bookkeeping leaves updated_at alone');

      gatewayKnows = true;
      assert.equal((await reconciler.runOnce()).settled, 0, 'not due yet');
      now += 5000;
      const report = await reconciler.runOnce();
      assert.equal(report.settled, 1, 'due: settled through the same conditional write');
      assert.equal((await row()).status, 'succeeded');
      assert.equal((await eventsAbout(t, id)).length, 1);
    });

    test("the reconciler's queries read the due index, already in due order", async () => {
      const planOf = async (query: { compile(): CompiledQuery }) => {
        const compiled = query.compile();
        const explain = (prefix: string) =>
          CompiledQuery.raw(prefix + compiled.sql, [...compiled.parameters]);
        if (dialect === 'sqlite') {
          const { rows } = await t.app.store.db.executeQuery<{ detail: string }>(
            explain('EXPLAIN QUERY PLAN '),
          );
          return rows.map((r) => r.detail).join('\n');
        }
        // The test tables are tiny: without this PostgreSQL would rightly scan them whole.
        return t.app.store.transaction(async (trx) => {
          await sql`SET LOCAL enable_seqscan = off`.execute(trx);
          const { rows } = await trx.executeQuery<{ 'QUERY PLAN': string }>(explain('EXPLAIN '));
          return rows.map((r) => r['QUERY PLAN']).join('\n');
        });
      };
      const now = Date.now();
      for (const [table, query] of [
        ['payments', duePayments(t.app.store.db, now, now - 400, 100)],
        ['refunds', dueRefunds(t.app.store.db, now, now - 400, 100)],
      ] as const) {
        const plan = await planOf(query);
        assert.match(plan, new RegExp(`\\b${table}_reconcile_due\\b`), plan);
        assert.doesNotMatch(plan, /TEMP B-TREE|Sort/, plan);
      }
    });
  });
}
