import assert from 'node:assert/strict';
import { test } from 'node:test';
import { migrationSets } from '../../src/app/migrations.ts';
import { openStore } from '../../src/store/open.ts';
import { QueryTemplate } from '../../src/store/query-template.ts';
import { createTestDatabase, dialects } from '../support/dialects.ts';

type Row = { api_key_id: string; merchant_id: string; livemode: number; key: string; created_at: number };

const insert = new QueryTemplate((db, r: Row) =>
  db
    .insertInto('idempotency_records')
    .values({
      api_key_id: r.api_key_id,
      merchant_id: r.merchant_id,
      livemode: r.livemode,
      key: r.key,
      fingerprint: 'f',
      state: 'in_flight',
      resource_id: null,
      response_status: null,
      response_body: null,
      created_at: r.created_at,
      completed_at: null,
    })
    .onConflict((oc) => oc.columns(['merchant_id', 'livemode', 'key']).doNothing()),
);

for (const dialect of dialects()) {
  test(`a query template compiles as Kysely does and runs with each call's values (${dialect})`, async () => {
    const db = await createTestDatabase(dialect);
    const store = openStore(
      { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 2 },
      migrationSets,
    );
    try {
      await store.migrate();
      const values = (key: string, created: number): Row => ({
        api_key_id: 'key_1',
        merchant_id: 'acct_1',
        livemode: 0,
        key,
        created_at: created,
      });
      const direct = store.db
        .insertInto('idempotency_records')
        .values({
          api_key_id: 'key_1',
          merchant_id: 'acct_1',
          livemode: 0,
          key: 'k1',
          fingerprint: 'f',
          state: 'in_flight',
          resource_id: null,
          response_status: null,
          response_body: null,
          created_at: 7,
          completed_at: null,
        })
        .onConflict((oc) => oc.columns(['merchant_id', 'livemode', 'key']).doNothing())
        .compile();
      const templated = insert.compile(store.db, values('k1', 7));
      assert.equal(templated.sql, direct.sql);
      assert.deepEqual(templated.parameters, direct.parameters);

      await store.transaction(async (trx) => {
        assert.equal((await insert.execute(trx, values('k1', 1))).numAffectedRows, 1n);
        assert.equal((await insert.execute(trx, values('k2', 2))).numAffectedRows, 1n);
        // The conflict clause is part of the compiled statement: the same key again changes nothing.
        assert.equal((await insert.execute(trx, values('k1', 3))).numAffectedRows, 0n);
      });
      const rows = await store.db
        .selectFrom('idempotency_records')
        .select(['key', 'created_at', 'state'])
        .orderBy('key')
        .execute();
      assert.deepEqual(
        rows.map((r) => [r.key, Number(r.created_at), r.state]),
        [
          ['k1', 1, 'in_flight'],
          ['k2', 2, 'in_flight'],
        ],
      );
      assert.throws(
        () => insert.compile(store.db, { ...values('k3', 4), key: undefined as unknown as string }),
        /no value for "key"/,
      );
    } finally {
      await store.close();
      await db.drop();
    }
  });
}
