import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { migrationSets } from '../../src/app/migrations.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { createTestDatabase, dialects } from '../support/dialects.ts';

for (const dialect of dialects().filter((d) => d === 'postgres')) {
  test('an idle pooled connection that dies is reported, not swallowed, and the pool goes on', async () => {
    const db = await createTestDatabase(dialect);
    const errors: Error[] = [];
    const store = new PostgresStore(db.databaseUrl!, {
      migrations: migrationSets,
      onPoolError: (e) => errors.push(e),
    });
    const admin = new pg.Client({ connectionString: db.databaseUrl });
    try {
      await store.migrate();
      await admin.connect();
      // Kill the server side of every idle connection of the store's pool.
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'`,
      );
      for (let waited = 0; errors.length === 0 && waited < 3000; waited += 50) await sleep(50);
      assert.ok(errors.length > 0, 'the pool error reached onPoolError');
      assert.match(errors[0]!.message, /terminat/);
      assert.equal(await store.ready(), true, 'the pool replaced the connection');
    } finally {
      await admin.end();
      await store.close();
      await db.drop();
    }
  });
}
