import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { adminMigrations } from '../../src/admin/migrations.ts';
import {
  beginIdempotency,
  completeIdempotency,
  type IdempotencyScope,
} from '../../src/idempotency/idempotency.ts';
import { idempotencyMigrations } from '../../src/idempotency/migrations.ts';
import type { MigrationSet } from '../../src/store/migrator.ts';
import { openStore } from '../../src/store/open.ts';
import { createTestDatabase, dialects } from '../support/dialects.ts';

/** The sets as released before the scope moved to merchant + mode: their 0001 migrations alone. */
function firstMigrationsOnly(set: MigrationSet): MigrationSet {
  return {
    name: set.name,
    migrations: (dialect) =>
      Object.fromEntries(
        Object.entries(set.migrations(dialect)).filter(([name]) => name.startsWith('0001_')),
      ),
  };
}

const minuteMs = 60_000;

/**
 * idempotency/0002 moves the key's scope from the API key to merchant + mode. The records already
 * there must survive the upgrade with the scope of their API key, in flight or completed, and keep
 * working: a completed one replays, an in-flight one answers 409 and can still be completed.
 */
for (const dialect of dialects()) {
  test(`the scope migration keeps in-flight and completed records working (${dialect})`, async () => {
    const db = await createTestDatabase(dialect);
    const config = { databaseUrl: db.databaseUrl, sqlitePath: db.sqlitePath, databasePoolMax: 2 };
    const sets = [adminMigrations, idempotencyMigrations];
    const now = Date.now();
    try {
      const before = openStore(config, sets.map(firstMigrationsOnly));
      await before.migrate();
      await before.transaction(async (trx) => {
        for (const [id, merchant, livemode] of [
          ['key_a_test', 'acct_a', 0],
          ['key_a_test_2', 'acct_a', 0],
          ['key_a_live', 'acct_a', 1],
          ['key_b_test', 'acct_b', 0],
        ] as const) {
          await sql`INSERT INTO api_keys (id, merchant_id, livemode, secret_hash, redacted, name, created_at)
                    VALUES (${id}, ${merchant}, ${livemode}, ${`hash_${id}`}, 'sk_...', NULL, 1)`.execute(
            trx,
          );
        }
        // The old scope let two keys of one merchant and mode each hold `order-1`; the new one
        // has room for one of them. Each record is (API key, key, state, resource, age in minutes).
        for (const [apiKey, key, state, resource, ageMinutes] of [
          ['key_a_test', 'order-1', 'completed', 'pay_a1', 30],
          ['key_a_test_2', 'order-1', 'completed', 'pay_a1_other', 20],
          ['key_a_test', 'order-2', 'in_flight', 'pay_a2', 10],
          ['key_a_test_2', 'order-2', 'completed', 'pay_a2_other', 5],
          ['key_a_live', 'order-1', 'in_flight', 'pay_a1_live', 10],
          ['key_b_test', 'order-1', 'completed', 'pay_b1', 10],
        ] as const) {
          const completed = state === 'completed';
          await sql`INSERT INTO idempotency_records (api_key_id, key, fingerprint, state, resource_id,
                      response_status, response_body, created_at, completed_at)
                    VALUES (${apiKey}, ${key}, ${`fp_${resource}`}, ${state}, ${resource},
                      ${completed ? 200 : null}, ${completed ? `{"id":"${resource}"}` : null},
                      ${now - ageMinutes * minuteMs}, ${completed ? now : null})`.execute(trx);
        }
      });
      await before.close();

      const after = openStore(config, sets);
      try {
        // admin/0002 (key roles, issue 13) comes along; the one this test is about is idempotency/0002.
        assert.deepEqual(await after.migrate(), [
          'admin/0002_key_roles',
          'idempotency/0002_scope_per_merchant_and_mode',
        ]);
        const rows = await after.db
          .selectFrom('idempotency_records')
          .select(['merchant_id', 'livemode', 'key', 'api_key_id', 'state', 'resource_id'])
          .orderBy('merchant_id')
          .orderBy('livemode')
          .orderBy('key')
          .execute();
        assert.deepEqual(
          rows.map((r) => [r.merchant_id, Number(r.livemode), r.key, r.api_key_id, r.state, r.resource_id]),
          [
            // Of two records now in one scope the newest stays, unless the other is in flight: its
            // request still waits for its outcome, and a retry must find it.
            ['acct_a', 0, 'order-1', 'key_a_test_2', 'completed', 'pay_a1_other'],
            ['acct_a', 0, 'order-2', 'key_a_test', 'in_flight', 'pay_a2'],
            ['acct_a', 1, 'order-1', 'key_a_live', 'in_flight', 'pay_a1_live'],
            ['acct_b', 0, 'order-1', 'key_b_test', 'completed', 'pay_b1'],
          ],
        );

        // They work: from another API key of the merchant (a rotation) a completed one replays...
        const scope = (merchantId: string, livemode: boolean, key: string, resource: string) =>
          ({
            merchantId,
            livemode,
            apiKeyId: 'key_rotated',
            key,
            fingerprint: `fp_${resource}`,
          }) satisfies IdempotencyScope;
        const replay = await after.transaction((trx) =>
          beginIdempotency(trx, scope('acct_b', false, 'order-1', 'pay_b1'), 'pay_new', now),
        );
        assert.deepEqual(replay, { kind: 'replay', response: { status: 200, body: '{"id":"pay_b1"}' } });
        // ...an in-flight one is still in flight, and its settlement completes it.
        const live = scope('acct_a', true, 'order-1', 'pay_a1_live');
        await assert.rejects(
          after.transaction((trx) => beginIdempotency(trx, live, 'pay_new', now)),
          { code: 'PAYSTREAM_IDEMPOTENCY_IN_FLIGHT' },
        );
        await after.transaction((trx) =>
          completeIdempotency(trx, 'pay_a1_live', { status: 200, body: '{"id":"pay_a1_live"}' }, now),
        );
        const settled = await after.transaction((trx) => beginIdempotency(trx, live, 'pay_new', now));
        assert.deepEqual(settled, {
          kind: 'replay',
          response: { status: 200, body: '{"id":"pay_a1_live"}' },
        });
      } finally {
        await after.close();
      }
    } finally {
      await db.drop();
    }
  });
}
