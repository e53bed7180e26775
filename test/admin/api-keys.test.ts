import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiKeys } from '../../src/admin/api-keys.ts';
import { migrationSets } from '../../src/app/migrations.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import { createTestDatabase, dialects, type TestDatabase } from '../support/dialects.ts';

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
      const interleaving: Store = {
        ...store,
        db: store.db,
        transaction: (fn) =>
          store.transaction(async (trx) => {
            const result = await fn(trx);
            await duringTransaction?.();
            return result;
          }),
      };
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
  });
}
