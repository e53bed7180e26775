import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createTestDatabase, dialects, type TestDatabase } from '../support/dialects.ts';
import { type Proc, spawnPaystream } from '../support/processes.ts';

const root = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
/** Longest wait for `paystream start` to print its banner, or its first key after the banner. */
const startTimeoutMs = 20_000;
const firstKeyTimeoutMs = 5_000;

test('paystream migrate, keys create | list | revoke, and clear errors', async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paystream-cli-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { ...process.env, PAYSTREAM_DATA_DIR: dataDir };
  const cli = (...args: string[]) =>
    run(process.execPath, [path.join(root, 'bin/paystream.ts'), ...args], { env });

  assert.match(
    (await cli('migrate')).stdout,
    /applied: leases\/0001_leases, admin\/0001_api_keys, .*payments\/0001_payments_and_refunds/,
  );
  assert.match((await cli('migrate')).stdout, /already up to date/);

  const created = await cli('keys', 'create', '--name', 'ci');
  assert.match(created.stdout.trim(), /^sk_test_[A-Za-z0-9]{32}$/);
  const keyId = /created (key_[0-9A-Z]{26}) for merchant (acct_[0-9A-Z]{26})/.exec(created.stderr);
  assert.ok(keyId, created.stderr);

  const listed = (await cli('keys', 'list')).stdout;
  assert.match(listed, new RegExp(`${keyId[1]}\\s+${keyId[2]}\\s+sk_test_\\S+\\.\\.\\.\\S{4}\\s+active`));
  assert.ok(!listed.includes(created.stdout.trim()), 'the secret is never listed');

  assert.match((await cli('keys', 'revoke', keyId[1]!)).stdout, /revoked/);
  assert.match((await cli('keys', 'list')).stdout, /revoked \d{4}-/);
  await assert.rejects(cli('keys', 'revoke', keyId[1]!), (e: { stderr: string }) =>
    /no active key/.test(e.stderr),
  );

  await assert.rejects(
    run(process.execPath, [path.join(root, 'bin/paystream.ts'), 'start'], {
      env: { ...env, PAYSTREAM_PORT: 'x' },
    }),
    (e: { stderr: string; code: number }) =>
      e.code === 2 && /PAYSTREAM_PORT must be an integer/.test(e.stderr),
  );
  await assert.rejects(cli('bogus'), (e: { stderr: string }) => /unknown command "bogus"/.test(e.stderr));
  // An operator's mistakes: `paystream: <message>` on one line, no stack trace, exit 2.
  const mistakes: Array<[string[], RegExp]> = [
    [['keys', 'create', '--merchant', 'x'], /merchant id looks like acct_/],
    [['keys', 'create', '--bogus-flag'], /Unknown option '--bogus-flag'/],
    [['keys', 'create', '--name'], /--name.*argument missing/],
    [['gateway', '--port', 'x'], /--port must be a port number/],
    [['events', 'tail', '--customer'], /--customer.*argument missing/],
    [['kafka', 'start', '--nodes', '5'], /--nodes must be 1 or 3/],
  ];
  for (const [args, message] of mistakes) {
    await assert.rejects(cli(...args), (e: { stderr: string; code: number }) => {
      assert.equal(e.code, 2, `${args.join(' ')}: ${e.stderr}`);
      assert.match(e.stderr, /^paystream: [^\n]+\n$/, `${args.join(' ')}: one line, no stack trace`);
      assert.match(e.stderr, message, args.join(' '));
      return true;
    });
  }
});

/** `paystream start` on the test's store, with ports picked by the OS; nothing PAYSTREAM_* inherited. */
function startCli(db: TestDatabase): Proc {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('PAYSTREAM_') && !name.startsWith('NODE_TEST')) env[name] = value;
  }
  return spawnPaystream('start', ['start'], {
    ...env,
    PAYSTREAM_DATA_DIR: db.dataDir,
    ...(db.databaseUrl ? { PAYSTREAM_DATABASE_URL: db.databaseUrl } : {}),
    PAYSTREAM_PORT: '0',
    PAYSTREAM_GATEWAY_PORT: '0',
    PAYSTREAM_LOG_LEVEL: 'warn',
  });
}

for (const dialect of dialects()) {
  test(`paystream start on an empty ${dialect} store prints a first key that works, and only then`, async (t) => {
    const db = await createTestDatabase(dialect);
    const procs: Proc[] = [];
    t.after(async () => {
      for (const proc of procs) await proc.kill();
      await db.drop();
    });

    const first = startCli(db);
    procs.push(first);
    const url = (await first.waitFor('stdout', /API on (http:\/\/[^\s,]+)/, startTimeoutMs))[1]!;
    const secret = (await first.waitFor('stdout', /^\s+(sk_test_[A-Za-z0-9]{32})$/m, firstKeyTimeoutMs))[1]!;
    const listed = await fetch(`${url}/v1/payments`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(listed.status, 200, 'the printed key authenticates');
    await first.kill();

    // The store has a key now: a restart prints none.
    const second = startCli(db);
    procs.push(second);
    const url2 = (await second.waitFor('stdout', /API on (http:\/\/[^\s,]+)/, startTimeoutMs))[1]!;
    await second.waitFor('stdout', /OpenAPI: \S+\n/, startTimeoutMs);
    // The key would be written in the same tick as the banner; an answered request is well after it.
    assert.equal((await fetch(`${url2}/v1/payments`)).status, 401);
    assert.doesNotMatch(second.stdout(), /sk_(test|live)_/, 'no key printed when the store has one');
  });
}
