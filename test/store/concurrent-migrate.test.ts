import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestDatabase, dialects } from '../support/dialects.ts';
import { spawnPaystream } from '../support/processes.ts';

for (const dialect of dialects()) {
  test(`processes migrating a fresh ${dialect} store at once all succeed, each migration applied once`, async () => {
    const db = await createTestDatabase(dialect);
    try {
      const env = {
        ...process.env,
        PAYSTREAM_DATA_DIR: db.dataDir,
        ...(db.databaseUrl ? { PAYSTREAM_DATABASE_URL: db.databaseUrl } : {}),
      };
      const procs = Array.from({ length: 4 }, (_, i) => spawnPaystream(`migrate ${i}`, ['migrate'], env));
      const codes = await Promise.all(procs.map((p) => p.exited));
      assert.deepEqual(codes, [0, 0, 0, 0], procs.map((p) => p.stderr()).join('\n'));
      const applied = procs.map((p) => p.stdout()).join('\n');
      assert.equal(
        applied.match(/payments\/0002_reconcile_backoff/g)?.length,
        1,
        'applied by exactly one process',
      );
    } finally {
      await db.drop();
    }
  });
}
