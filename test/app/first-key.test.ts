import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { createTestDatabase, dialects } from '../support/dialects.ts';

const root = path.resolve(import.meta.dirname, '../..');

for (const dialect of dialects()) {
  test(`npm start on an empty ${dialect} store prints a first key that works`, {
    timeout: 30_000,
  }, async () => {
    const db = await createTestDatabase(dialect);
    const child = spawn(process.execPath, [path.join(root, 'bin/paystream.ts'), 'start'], {
      cwd: root,
      env: {
        ...process.env,
        PAYSTREAM_DATA_DIR: db.dataDir,
        ...(db.databaseUrl ? { PAYSTREAM_DATABASE_URL: db.databaseUrl } : {}),
        PAYSTREAM_PORT: '0',
        PAYSTREAM_GATEWAY_PORT: '0',
        PAYSTREAM_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let url: string | undefined;
      let secret: string | undefined;
      for await (const line of createInterface({ input: child.stdout })) {
        url ??= /API on (http:\/\/\S+?),?\s/.exec(`${line} `)?.[1];
        secret ??= /^\s+(sk_test_[A-Za-z0-9]{32})\s*$/.exec(line)?.[1];
        if (url && secret) break;
      }
      assert.ok(url, 'the API address is printed');
      assert.ok(secret, 'a first key is printed');
      const res = await fetch(`${url}/v1/payments`, { headers: { authorization: `Bearer ${secret}` } });
      assert.equal(res.status, 200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.on('exit', resolve));
      await db.drop();
    }
  });
}
