import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { serviceVariables } from '../../src/app/services.ts';
import { configVariables as coreVariables } from '../../src/platform/config.ts';

/** The core's settings, then the services' (each service declares its own). */
const configVariables = [...coreVariables, ...serviceVariables];

const root = path.resolve(import.meta.dirname, '../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

function between(begin: string, end: string): string {
  const start = readme.indexOf(begin);
  const stop = readme.indexOf(end);
  assert.ok(start >= 0 && stop > start, `README lacks ${begin} ... ${end}`);
  return readme.slice(start + begin.length, stop);
}

test('the README configuration table lists every variable with its default', () => {
  const table = between('<!-- config:begin -->', '<!-- config:end -->');
  for (const v of configVariables) {
    const row = table.split('\n').find((line) => line.includes(`\`${v.name}\``));
    const cells = row?.split('|').map((c) => c.trim());
    assert.equal(cells?.[2], `\`${v.default}\``, `${v.name} missing or stale in README`);
  }
  const listed = [...table.matchAll(/`(PAYSTREAM_[A-Z_]+)`/g)].map((m) => m[1]);
  assert.deepEqual(
    listed,
    configVariables.map((v) => v.name),
  );
});

test('npm start serves on 127.0.0.1:3000, prints a first key, and the README curl example succeeds', async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paystream-readme-'));
  const env: NodeJS.ProcessEnv = { ...process.env, PAYSTREAM_DATA_DIR: dataDir, PAYSTREAM_LOG_LEVEL: 'warn' };
  for (const name of Object.keys(env)) if (name.startsWith('PAYSTREAM_TEST_')) delete env[name];
  // Its own process group: npm does not pass signals on to the node process it starts.
  const child = spawn('npm', ['start', '--silent'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  t.after(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    child.stdout.destroy();
    child.stderr.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });
  let out = '';
  child.stderr.on('data', (d) => {
    out += d;
  });
  const key = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no key printed within 30 s:\n${out}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /sk_test_[A-Za-z0-9]{32}/.exec(out);
      if (m && out.includes('http://127.0.0.1:3000')) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
    child.on('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${out}`)));
  });
  const curl = between('<!-- quickstart:begin -->', '<!-- quickstart:end -->').replace(/```(sh)?/g, '');
  const { stdout } = await promisify(execFile)('bash', ['-c', curl], {
    env: { ...process.env, PAYSTREAM_KEY: key },
  });
  const payment = JSON.parse(stdout);
  assert.equal(payment.status, 'succeeded', stdout);
  assert.equal(payment.amount, 2500);
  assert.match(payment.id, /^pay_/);
  // The receipts service sends its receipt to the local mail sink, shown at /v1/mailbox.
  const deadline = Date.now() + 15_000;
  let mail: { data: Array<{ to: string; subject: string; text: string }> } = { data: [] };
  while (mail.data.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const res = await fetch('http://127.0.0.1:3000/v1/mailbox', {
      headers: { authorization: `Bearer ${key}` },
    });
    mail = (await res.json()) as typeof mail;
  }
  assert.equal(mail.data.length, 1, 'one receipt in the mailbox');
  assert.equal(mail.data[0]!.to, 'alice@example.com');
  assert.match(mail.data[0]!.text, /\$25\.00/);
  assert.match(mail.data[0]!.text, new RegExp(payment.id));
});
