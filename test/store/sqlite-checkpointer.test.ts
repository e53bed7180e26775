import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

/**
 * WAL checkpoints run on the checkpoint thread, not inside the writer's COMMIT: a few hundred rows
 * (far below SQLite's automatic threshold of 1000 pages) reach the database file itself within a
 * few checkpoint intervals, while the writer never checkpointed.
 */
test('the checkpoint thread copies committed pages into the database file, and the store closes cleanly', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paystream-checkpointer-'));
  const file = path.join(dir, 'store.sqlite');
  const store = new SqliteStore(file, { checkpointIntervalMs: 20 });
  try {
    await store.transaction(async (trx) => {
      await sql`create table filler (id integer primary key, body text not null)`.execute(trx);
    });
    const sizeBefore = statSync(file).size;
    for (let i = 0; i < 10; i += 1) {
      await store.transaction(async (trx) => {
        for (let j = 0; j < 20; j += 1) {
          await sql`insert into filler (body) values (${'x'.repeat(1000)})`.execute(trx);
        }
      });
    }
    const giveUpAt = Date.now() + 5000;
    while (statSync(file).size <= sizeBefore + 100_000 && Date.now() < giveUpAt) await sleep(20);
    assert.ok(
      statSync(file).size > sizeBefore + 100_000,
      `the database file stayed at ${statSync(file).size} bytes (was ${sizeBefore}): nothing was checkpointed`,
    );
    const rows = await store.db
      .selectFrom('filler' as never)
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(Number((rows as { n: number }).n), 200);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
