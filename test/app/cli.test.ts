import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const root = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

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
  // An operator's mistakes: the message, no stack trace, exit 2.
  for (const args of [
    ['keys', 'create', '--merchant', 'x'],
    ['keys', 'create', '--bogus-flag'],
    ['keys', 'create', '--name'],
  ]) {
    await assert.rejects(cli(...args), (e: { stderr: string; code: number }) => {
      assert.equal(e.code, 2, `${args.join(' ')}: ${e.stderr}`);
      assert.doesNotMatch(e.stderr, /\n\s+at /, `${args.join(' ')} printed a stack trace`);
      return true;
    });
  }
  assert.match(
    await cli('keys', 'create', '--merchant', 'x').then(
      () => 'no error',
      (e: { stderr: string }) => e.stderr,
    ),
    /merchant id looks like acct_/,
  );
});
