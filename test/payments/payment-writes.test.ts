import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrationSets } from '../../src/app/migrations.ts';
import { OutboxWriter } from '../../src/events/outbox.ts';
import type { IdempotencyScope } from '../../src/idempotency/idempotency.ts';
import { customerPartitionKey } from '../../src/payments/partition-key.ts';
import { newProcessingPayment, type Payment } from '../../src/payments/payment.ts';
import { type PaymentWrites, paymentWritesFor } from '../../src/payments/payment-writes.ts';
import { paymentEventData, paymentJson } from '../../src/payments/presenter.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { PaystreamError } from '../../src/platform/errors.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import { createTestDatabase, dialects, type TestDatabase } from '../support/dialects.ts';
import { writtenEvents } from '../support/events.ts';

const ids = new IdGenerator();
const merchant = { merchantId: ids.resource('acct'), livemode: false };

function scopeOf(key: string, fingerprint = 'fp-1'): IdempotencyScope {
  return { ...merchant, apiKeyId: 'key_writes', key, fingerprint };
}

function paymentFor(customer: string, amount: number): Payment {
  return newProcessingPayment(
    ids.resource('pay'),
    merchant,
    {
      customerId: customer,
      amount: BigInt(amount),
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      description: `payment of ${amount}`,
      metadata: { amount: String(amount) },
    },
    Date.now(),
  );
}

/** What the service writes when a payment succeeds: the settled row, its event, the key's response. */
function settlement(before: Payment) {
  const after: Payment = {
    ...before,
    status: 'succeeded',
    gatewayChargeId: `ch_${before.id}`,
    updatedAt: before.updatedAt + 1,
  };
  return {
    after,
    event: {
      type: 'payment.succeeded' as const,
      subject: after.id,
      partitionKey: customerPartitionKey(after.merchantId, after.customerId),
      data: paymentEventData(after),
    },
    response: { status: 200, body: JSON.stringify(paymentJson(after)) },
  };
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    const result = (await promise) as { kind: string };
    return result.kind;
  } catch (error) {
    if (error instanceof PaystreamError) return error.code;
    throw error;
  }
}

/**
 * Many payments at once through the payment writes: on PostgreSQL they share statements (group
 * commit), and each must still get exactly what it would get alone. The same load on SQLite, whose
 * writes go one transaction each, gives the expected answers to compare with.
 */
for (const dialect of dialects()) {
  describe(`payment writes under concurrency (${dialect})`, () => {
    let db: TestDatabase;
    let store: Store;
    let writes: PaymentWrites;
    before(async () => {
      db = await createTestDatabase(dialect);
      store = openStore(
        { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 10 },
        migrationSets,
      );
      await store.migrate();
      writes = paymentWritesFor(store, new OutboxWriter(ids, systemClock));
    });
    after(async () => {
      await store.close();
      await db.drop();
    });

    test('claims at once: new keys start, taken keys replay, wait (409) or mismatch (422)', async () => {
      // Keys already taken before the rush: completed (replays), in flight (409).
      const done = paymentFor('cus_done', 1);
      assert.equal((await writes.claim(scopeOf('done'), done)).kind, 'started');
      const doneSettled = settlement(done);
      assert.ok(await writes.settle(done, doneSettled.after, doneSettled.event, doneSettled.response));
      assert.equal((await writes.claim(scopeOf('busy'), paymentFor('cus_busy', 2))).kind, 'started');
      const before = await store.db.selectFrom('payments').select('id').execute();

      const fresh = Array.from({ length: 150 }, (_, i) => ({
        key: `fresh-${i}`,
        payment: paymentFor(`cus_${i % 13}`, 100 + i),
      }));
      const rush = [
        ...fresh.map(({ key, payment }) => ({
          expect: 'started',
          run: () => writes.claim(scopeOf(key), payment),
        })),
        ...Array.from({ length: 20 }, () => ({
          expect: 'replay',
          run: () => writes.claim(scopeOf('done'), paymentFor('cus_done', 1)),
        })),
        ...Array.from({ length: 20 }, () => ({
          expect: 'PAYSTREAM_IDEMPOTENCY_IN_FLIGHT',
          run: () => writes.claim(scopeOf('busy'), paymentFor('cus_busy', 2)),
        })),
        ...Array.from({ length: 20 }, () => ({
          expect: 'PAYSTREAM_IDEMPOTENCY_MISMATCH',
          run: () => writes.claim(scopeOf('done', 'fp-other'), paymentFor('cus_done', 9)),
        })),
      ];
      // Shuffled (seeded), so that batches mix every kind of answer.
      let seed = 42;
      for (let i = rush.length - 1; i > 0; i -= 1) {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        const j = seed % (i + 1);
        [rush[i], rush[j]] = [rush[j]!, rush[i]!];
      }
      const answers = await Promise.all(rush.map((r) => outcome(r.run())));
      assert.deepEqual(
        answers,
        rush.map((r) => r.expect),
      );

      // Exactly the fresh payments were inserted, each as claimed, each under its own key.
      const rows = await store.db
        .selectFrom('payments')
        .select(['id', 'customer_id', 'amount', 'status'])
        .where(
          'id',
          'not in',
          before.map((r) => r.id),
        )
        .execute();
      assert.equal(rows.length, fresh.length);
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const { payment } of fresh) {
        const row = byId.get(payment.id);
        assert.equal(row?.customer_id, payment.customerId);
        assert.equal(Number(row?.amount), Number(payment.amount));
        assert.equal(row?.status, 'processing');
      }
      const records = await store.db
        .selectFrom('idempotency_records')
        .select(['key', 'resource_id', 'state'])
        .where('key', 'like', 'fresh-%')
        .execute();
      assert.equal(records.length, fresh.length);
      const keyOf = new Map(fresh.map((f) => [f.key, f.payment.id]));
      for (const r of records) {
        assert.equal(r.resource_id, keyOf.get(r.key));
        assert.equal(r.state, 'in_flight');
      }

      // Then every one settles at once, each racing a stale copy of itself: one write wins, once.
      const settles = fresh.flatMap(({ payment }) => {
        const s = settlement(payment);
        const stale = { ...payment, updatedAt: payment.updatedAt - 1 };
        return [
          { id: payment.id, fresh: true, run: () => writes.settle(payment, s.after, s.event, s.response) },
          { id: payment.id, fresh: false, run: () => writes.settle(stale, s.after, s.event, s.response) },
        ];
      });
      const settled = await Promise.all(settles.map((s) => s.run()));
      assert.deepEqual(
        settled,
        settles.map((s) => s.fresh),
      );
      const events = (await writtenEvents(store)).filter((e) => e.type === 'payment.succeeded');
      const freshIds = new Set(fresh.map((f) => f.payment.id));
      const theirs = events.filter((e) => freshIds.has(e.subject));
      assert.equal(theirs.length, fresh.length, 'one event per settled payment');
      assert.equal(new Set(theirs.map((e) => e.subject)).size, fresh.length);
      const completed = await store.db
        .selectFrom('idempotency_records')
        .select(['resource_id', 'state', 'response_body'])
        .where('key', 'like', 'fresh-%')
        .execute();
      for (const r of completed) {
        assert.equal(r.state, 'completed');
        assert.equal(JSON.parse(r.response_body!).id, r.resource_id);
      }

      const shared = writes.statements?.();
      if (dialect === 'postgres') {
        // The point of the exercise: most of these went several to a statement.
        assert.ok(shared, 'PostgreSQL batches its payment writes');
        for (const kind of ['claims', 'settlements'] as const) {
          const { statements, items } = shared[kind];
          assert.ok(statements < items / 2, `${kind}: ${items} writes in ${statements} statements`);
        }
      }
    });
  });
}
