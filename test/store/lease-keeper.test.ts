import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { migrationSets } from '../../src/app/migrations.ts';
import { LeaseKeeper, leaseHolder } from '../../src/store/leases/lease.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import { createTestDatabase, dialects } from '../support/dialects.ts';

/**
 * A holder whose store stops answering keeps its lease only until the last renewal that the store
 * accepted expires: a failed renewal must not extend it, or the holder would go on acting (relaying,
 * reconciling) beside the standby that rightly took the lapsed lease over.
 */
for (const dialect of dialects()) {
  test(`a holder cut off from its store stops holding when its last real renewal expires (${dialect})`, async () => {
    const db = await createTestDatabase(dialect);
    const store = openStore(
      { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 4 },
      migrationSets,
    );
    let clock = 1_000_000;
    let storeDown = false;
    const flaky: Store = {
      dialect: store.dialect,
      db: store.db,
      transaction: (fn) =>
        storeDown ? Promise.reject(new Error('store unreachable')) : store.transaction(fn),
      migrate: () => store.migrate(),
      ready: () => store.ready(),
      close: () => store.close(),
    };
    const leaseMs = 300;
    const keeper = new LeaseKeeper({
      store: flaky,
      name: 'keeper-test',
      owner: 'a',
      leaseMs,
      now: () => clock,
    });
    try {
      await store.migrate();
      await keeper.start();
      assert.equal(keeper.held, true, 'won at start');
      const lastRenewal = clock;

      storeDown = true;
      // The keeper ticks every leaseMs / 3 of real time; move the clock a little on each so that
      // several failed renewals happen before the lease's end.
      for (let i = 0; i < 6; i += 1) {
        clock += 40;
        await sleep(leaseMs / 3 + 20);
        assert.equal(
          keeper.held,
          true,
          `still within the lease (${clock - lastRenewal} ms after the renewal)`,
        );
      }
      clock = lastRenewal + leaseMs;
      await sleep(leaseMs / 3 + 20);
      assert.equal(keeper.held, false, 'lapsed: the failed renewals did not extend it');
      assert.equal(await leaseHolder(store.db, 'keeper-test', clock), undefined, 'and the store agrees');

      storeDown = false;
      await sleep(leaseMs / 3 + 50);
      assert.equal(keeper.held, true, 'won again once the store answers');
    } finally {
      await keeper.stop();
      await store.close();
      await db.drop();
    }
  });
}
