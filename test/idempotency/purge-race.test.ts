import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KyselyPlugin, Transaction } from 'kysely';
import { migrationSets } from '../../src/app/migrations.ts';
import { purgeIdempotencyRecords } from '../../src/idempotency/idempotency.ts';
import type { Database } from '../../src/store/database.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import { createTestDatabase, dialects } from '../support/dialects.ts';

const hourMs = 3_600_000;
const retentionMs = 24 * hourMs;

/**
 * Every API process purges, so two purges can read the same expired record. If one deletes it and
 * a client then claims that key again, the other purge must not delete the new in-flight claim: a
 * retry of that request would otherwise find no record and charge a second time. PostgreSQL only:
 * on SQLite a purge batch is one transaction on the single writer, so nothing can come in between
 * its read and its delete (and the interleaving below would wait for that very writer).
 */
for (const dialect of dialects().filter((d) => d === 'postgres')) {
  test(`a key claimed again between a purge's read and its delete is kept (${dialect})`, async () => {
    const db = await createTestDatabase(dialect);
    const store = openStore(
      { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 4 },
      migrationSets,
    );
    try {
      await store.migrate();
      const scope = { merchant_id: 'acct_purge_race', livemode: 0, key: 'order-7' } as const;
      const expired = Date.now() - 2 * retentionMs;
      await store.transaction((trx) =>
        trx
          .insertInto('idempotency_records')
          .values({
            ...scope,
            api_key_id: 'key_first',
            fingerprint: 'first request',
            state: 'completed',
            resource_id: 'pay_first',
            response_status: 200,
            response_body: '{}',
            created_at: expired,
            completed_at: expired,
          })
          .execute(),
      );

      // Runs once, right after the purge has read its batch: another process purges the record and
      // a client claims the key afresh, both committed before the purge's delete.
      let interleaved = false;
      const otherProcessAndClient: KyselyPlugin = {
        transformQuery: (args) => args.node,
        async transformResult(args) {
          if (!interleaved) {
            interleaved = true;
            await store.transaction(async (trx) => {
              await trx
                .deleteFrom('idempotency_records')
                .where('merchant_id', '=', scope.merchant_id)
                .where('livemode', '=', scope.livemode)
                .where('key', '=', scope.key)
                .execute();
              await trx
                .insertInto('idempotency_records')
                .values({
                  ...scope,
                  api_key_id: 'key_second',
                  fingerprint: 'second request',
                  state: 'in_flight',
                  resource_id: 'pay_second',
                  response_status: null,
                  response_body: null,
                  created_at: Date.now(),
                  completed_at: null,
                })
                .execute();
            });
          }
          return args.result;
        },
      };
      const racing: Store = {
        dialect: store.dialect,
        db: store.db,
        transaction: <T>(fn: (trx: Transaction<Database>) => Promise<T>) =>
          store.transaction((trx) => fn(trx.withPlugin(otherProcessAndClient))),
        migrate: () => store.migrate(),
        ready: () => store.ready(),
        close: () => store.close(),
      };

      const purged = await purgeIdempotencyRecords(racing, Date.now() - retentionMs);
      assert.ok(interleaved, 'the purge read a batch');
      const left = await store.db
        .selectFrom('idempotency_records')
        .select(['state', 'resource_id'])
        .where('merchant_id', '=', scope.merchant_id)
        .where('key', '=', scope.key)
        .execute();
      assert.deepEqual(left, [{ state: 'in_flight', resource_id: 'pay_second' }], 'the new claim stays');
      assert.equal(purged, 0, 'this purge deleted nothing: the other one had');
    } finally {
      await store.close();
      await db.drop();
    }
  });
}
