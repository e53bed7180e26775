import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { migrationSets } from '../../../src/app/migrations.ts';
import { OutboxWriter } from '../../../src/events/outbox.ts';
import { systemClock } from '../../../src/platform/clock.ts';
import { IdGenerator } from '../../../src/platform/ids.ts';
import { DeadLetters } from '../../../src/runtime/dead-letters.ts';
import { deadLetter } from '../../../src/runtime/middleware/dead-letter.ts';
import { inbox, purgeInbox } from '../../../src/runtime/middleware/inbox.ts';
import { AttemptsExhaustedError } from '../../../src/runtime/middleware/retry.ts';
import { openStore } from '../../../src/store/open.ts';
import { createTestDatabase, dialects } from '../../support/dialects.ts';
import { paymentSucceededEvent } from '../../support/event-fixtures.ts';
import { testEffectsMigrations } from '../support.ts';
import { testContext } from './context.ts';

for (const dialect of dialects()) {
  describe(`inbox and dead-letter middleware on ${dialect}`, () => {
    async function setup() {
      const db = await createTestDatabase(dialect);
      const store = openStore(
        { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 4 },
        [...migrationSets, testEffectsMigrations],
      );
      await store.migrate();
      const ids = new IdGenerator();
      const wrap = inbox({ store, clock: systemClock, outbox: new OutboxWriter(ids, systemClock) });
      const rows = async () =>
        (await store.db.selectFrom('test_effects').select('event_id').execute()).map((r) => r.event_id);
      const outbox = async () => (await store.db.selectFrom('outbox').select('type').execute()).length;
      return {
        store,
        ids,
        wrap,
        rows,
        outbox,
        close: async () => {
          await store.close();
          await db.drop();
        },
      };
    }

    test('the handler’s writes, its emitted event and the inbox row commit together; the same event again is skipped', async () => {
      const s = await setup();
      try {
        let calls = 0;
        const handler = s.wrap(async (ctx) => {
          calls += 1;
          await ctx.transaction(async (trx, emit) => {
            await trx
              .insertInto('test_effects')
              .values({ consumer: 'unit', event_id: ctx.event.id, customer: 'c', amount: 1, seq: 1 })
              .execute();
            await emit(paymentSucceededEvent(s.ids, 'c', 1));
          });
        });
        const first = testContext();
        await handler(first);
        const again = testContext();
        await handler(again);
        assert.equal(calls, 1);
        assert.equal(again.outcome.skipped, 'inbox');
        assert.deepEqual(await s.rows(), [first.event.id]);
        assert.equal(await s.outbox(), 1);
      } finally {
        await s.close();
      }
    });

    test('a handler that fails inside its transaction leaves no row, no event and no inbox entry: the retry applies it', async () => {
      const s = await setup();
      try {
        let fail = true;
        const handler = s.wrap(async (ctx) => {
          await ctx.transaction(async (trx, emit) => {
            await trx
              .insertInto('test_effects')
              .values({ consumer: 'unit', event_id: ctx.event.id, customer: 'c', amount: 1, seq: 1 })
              .execute();
            await emit(paymentSucceededEvent(s.ids, 'c', 1));
            if (fail) throw new Error('after the writes');
          });
        });
        await assert.rejects(handler(testContext()), /after the writes/);
        assert.deepEqual(await s.rows(), []);
        assert.equal(await s.outbox(), 0);
        fail = false;
        await handler(testContext());
        assert.equal((await s.rows()).length, 1);
        assert.equal(await s.outbox(), 1);
      } finally {
        await s.close();
      }
    });

    test('two deliveries racing: the one that commits second rolls back and counts as already applied', async () => {
      const s = await setup();
      try {
        let release: () => void = () => undefined;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        let calls = 0;
        const handler = s.wrap(async (ctx) => {
          calls += 1;
          await gate;
          await ctx.transaction((trx) =>
            trx
              .insertInto('test_effects')
              .values({ consumer: 'unit', event_id: ctx.event.id, customer: 'c', amount: calls, seq: calls })
              .execute(),
          );
        });
        const a = testContext();
        const b = testContext();
        const both = Promise.all([handler(a), handler(b)]);
        await new Promise((r) => setTimeout(r, 50));
        release();
        await both;
        assert.equal(calls, 2, 'both passed the first check');
        assert.equal((await s.rows()).length, 1);
        assert.deepEqual([a.outcome.skipped, b.outcome.skipped].sort(), ['inbox', undefined].sort());
      } finally {
        await s.close();
      }
    });

    test('an aborted attempt cannot commit late', async () => {
      const s = await setup();
      try {
        const controller = new AbortController();
        controller.abort(new Error('timed out'));
        await assert.rejects(
          s.wrap(async (ctx) => {
            await ctx.transaction(async () => undefined);
          })(testContext({ signal: controller.signal })),
          /timed out/,
        );
        assert.equal((await s.store.db.selectFrom('runtime_inbox').selectAll().execute()).length, 0);
      } finally {
        await s.close();
      }
    });

    test('a dry run runs the transaction and rolls it back', async () => {
      const s = await setup();
      try {
        let ran = false;
        await s.wrap(async (ctx) => {
          const value = await ctx.transaction(async (trx) => {
            await trx
              .insertInto('test_effects')
              .values({ consumer: 'unit', event_id: ctx.event.id, customer: 'c', amount: 1, seq: 1 })
              .execute();
            ran = true;
            return 42;
          });
          assert.equal(value, 42);
        })(testContext({ dryRun: true }));
        assert.equal(ran, true);
        assert.deepEqual(await s.rows(), []);
        assert.equal((await s.store.db.selectFrom('runtime_inbox').selectAll().execute()).length, 0);
      } finally {
        await s.close();
      }
    });

    test('purgeInbox deletes rows older than the cutoff, in slices', async () => {
      const s = await setup();
      try {
        await s.store.transaction(async (trx) => {
          for (let i = 0; i < 25; i += 1) {
            await trx
              .insertInto('runtime_inbox')
              .values({ consumer: 'unit', event_id: `e${i}`, processed_at: i })
              .execute();
          }
        });
        assert.equal(await purgeInbox(s.store, 20, 7), 20);
        assert.equal((await s.store.db.selectFrom('runtime_inbox').selectAll().execute()).length, 5);
      } finally {
        await s.close();
      }
    });

    test('exhausted attempts end in the dead letters with reason, attempts, error and headers; again updates the same one', async () => {
      const s = await setup();
      try {
        const letters = new DeadLetters(s.store, s.ids, systemClock);
        const failing = deadLetter(letters)(async () => {
          throw new AttemptsExhaustedError(5, new Error('smtp 550 mailbox unavailable'));
        });
        const ctx = testContext();
        await failing(ctx);
        assert.equal(ctx.outcome.deadLettered, 'handler_failed');
        await failing(testContext());
        const [letter, ...rest] = await letters.list({ consumer: 'unit' }, { limit: 10 });
        assert.equal(rest.length, 0);
        assert.equal(letter?.attempts, 5);
        assert.equal(letter?.status, 'pending');
        assert.match(letter!.error, /550 mailbox unavailable/);
        assert.deepEqual(letter?.headers, ctx.record.headers);
        assert.equal(await letters.isHeld('unit', ctx.event.id), true);
        // A dry run reports it and writes nothing.
        const dry = testContext({ consumer: 'dry', dryRun: true });
        await failing(dry);
        assert.equal(dry.outcome.deadLettered, 'handler_failed');
        assert.equal(await letters.count({ consumer: 'dry' }), 0);
      } finally {
        await s.close();
      }
    });
  });
}
