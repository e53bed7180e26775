import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Kysely, KyselyPlugin } from 'kysely';
import { ApiKeys } from '../../src/admin/api-keys.ts';
import { migrationSets } from '../../src/app/migrations.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import type { Database } from '../../src/store/database.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import { createTestDatabase, dialects, type TestDatabase } from '../support/dialects.ts';

/** The same store seen through other reads and transactions (the interleavings below). */
function storeWith(
  store: Store,
  parts: { db?: Kysely<Database>; transaction?: Store['transaction'] },
): Store {
  return {
    dialect: store.dialect,
    db: parts.db ?? store.db,
    transaction: parts.transaction ?? ((fn) => store.transaction(fn)),
    migrate: () => store.migrate(),
    ready: () => store.ready(),
    close: () => store.close(),
  };
}

for (const dialect of dialects()) {
  describe(`API keys (${dialect})`, () => {
    let db: TestDatabase;
    let store: Store;
    before(async () => {
      db = await createTestDatabase(dialect);
      store = openStore(
        { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 4 },
        migrationSets,
      );
      await store.migrate();
    });
    after(async () => {
      await store.close();
      await db.drop();
    });

    test('a revoke takes effect in this process as soon as it returns, even with a lookup in between', async () => {
      // A store whose transactions let a request authenticate while the revoke is not yet committed.
      let duringTransaction: (() => Promise<unknown>) | undefined;
      const interleaving = storeWith(store, {
        transaction: (fn) =>
          store.transaction(async (trx) => {
            const result = await fn(trx);
            await duringTransaction?.();
            return result;
          }),
      });
      const keys = new ApiKeys(interleaving, new IdGenerator(), systemClock, { authCacheMs: 60_000 });
      const { key, secret } = await keys.create({ name: 'to revoke' });
      assert.ok(await keys.authenticate(secret), 'active before the revoke');
      let seenDuring: unknown;
      duringTransaction = async () => {
        seenDuring = await keys.authenticate(secret);
      };
      assert.equal(await keys.revoke(key.id), true);
      duringTransaction = undefined;
      assert.ok(seenDuring, 'the lookup during the revoke still saw the key (not yet committed)');
      assert.equal(await keys.authenticate(secret), undefined, 'refused right after revoke() returned');
    });

    test('a lookup that read the key before the revoke committed, and answers after it, is not cached', async () => {
      // Holds the answer of one read (the query has already run against the database) until released.
      let hold: { reached: () => void; released: Promise<void> } | undefined;
      const holdOneAnswer: KyselyPlugin = {
        transformQuery: (args) => args.node,
        transformResult: async (args) => {
          const held = hold;
          hold = undefined;
          if (held) {
            held.reached();
            await held.released;
          }
          return args.result;
        },
      };
      const keys = new ApiKeys(
        storeWith(store, { db: store.db.withPlugin(holdOneAnswer) }),
        new IdGenerator(),
        systemClock,
        { authCacheMs: 60_000 },
      );
      const { key, secret } = await keys.create({ name: 'revoked under a slow lookup' });

      const reached = Promise.withResolvers<void>();
      const release = Promise.withResolvers<void>();
      hold = { reached: reached.resolve, released: release.promise };
      const overlapping = keys.authenticate(secret);
      await reached.promise; // the lookup has read the key while it was still active
      assert.equal(await keys.revoke(key.id), true);
      release.resolve();
      assert.ok(await overlapping, 'the overlapping lookup answers with what it read');
      assert.equal(
        await keys.authenticate(secret),
        undefined,
        'but did not cache it: refused after revoke()',
      );
    });
  });
}
