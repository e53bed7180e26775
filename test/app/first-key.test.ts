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
    // A child that never prints both lines is killed, which ends its stdout and so the loop below:
    // the test then fails on its assertions instead of waiting forever.
    const deadline = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      let url: string | undefined;
      let secret: string | undefined;
      for await (const line of createInterface({ input: child.stdout })) {
        url ??= /API on (http:\/\/\S+?),?\s/.exec(`${line} `)?.[1];
        secret ??= /^\s+(sk_test_[A-Za-z0-9]{32})\s*$/.exec(line)?.[1];
        if (url && secret) break;
      }
      clearTimeout(deadline);
      assert.ok(url, 'the API address is printed');
      assert.ok(secret, 'a first key is printed');
      const res = await fetch(`${url}/v1/payments`, { headers: { authorization: `Bearer ${secret}` } });
      assert.equal(res.status, 200);
    } finally {
      clearTimeout(deadline);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.on('exit', resolve));
      }
      await db.drop();
    }
  });
}
