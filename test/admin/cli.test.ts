import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { migrationSets } from '../../src/app/migrations.ts';
import { toRecord } from '../../src/events/binary-mode.ts';
import { OutboxWriter } from '../../src/events/outbox.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import { DeadLetters } from '../../src/runtime/dead-letters.ts';
import { openStore } from '../../src/store/open.ts';
import { paymentSucceededEvent } from '../support/event-fixtures.ts';

const root = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

test('paystream dead-letters list | show | redrive | discard, keys create --admin, and lag, on an embedded data dir', async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paystream-admin-cli-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { ...process.env, PAYSTREAM_DATA_DIR: dataDir };
  const cli = (...args: string[]) =>
    run(process.execPath, [path.join(root, 'bin/paystream.ts'), ...args], { env });
  const fails = async (args: string[], message: RegExp) =>
    assert.rejects(cli(...args), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 2, e.stderr);
      assert.match(e.stderr, message);
      return true;
    });

  // Seed three dead letters through the store, as a consumer would have written them.
  const store = openStore(
    { databaseUrl: undefined, sqlitePath: path.join(dataDir, 'paystream.sqlite'), databasePoolMax: 1 },
    migrationSets,
  );
  await store.migrate();
  const ids = new IdGenerator(systemClock);
  const letters = new DeadLetters(store, ids, systemClock);
  const writer = new OutboxWriter(ids, systemClock);
  const made: string[] = [];
  for (const [i, consumer] of ['fraud', 'fraud', 'audit'].entries()) {
    const envelope = writer.prepare(paymentSucceededEvent(ids, `cus_${i}`, 700 + i)).envelope;
    await letters.add({
      consumer,
      eventId: envelope.id,
      eventType: 'payment.succeeded',
      record: { ...toRecord(envelope), topic: 'payments', partition: 0, offset: BigInt(i) },
      reason: 'handler_failed',
      attempts: 5,
      error: `Error: refused ${i}\n    at somewhere`,
    });
    made.push((await letters.list({}, { limit: 1 }))[0]!.id);
  }
  await store.close();

  const listed = (await cli('dead-letters', 'list')).stdout.split('\n');
  assert.match(listed[0]!, /^ID +CONSUMER +EVENT TYPE +STATUS +REASON +ATTEMPTS +CREATED +ERROR$/);
  assert.deepEqual(
    listed.slice(1, 4).map((l) => l.split(/ +/)[0]),
    [...made].reverse(),
  );
  assert.match(
    listed[1]!,
    /audit +payment\.succeeded +pending +handler_failed +5 +\d{4}-\S+Z +Error: refused 2$/,
  );
  const fraud = (await cli('dead-letters', 'list', '--consumer', 'fraud', '--limit', '1')).stdout;
  assert.equal(fraud.trim().split('\n').length, 2);
  assert.ok(fraud.includes(made[1]!));

  const shown = (await cli('dead-letters', 'show', made[0]!)).stdout;
  assert.match(shown, new RegExp(`^id +${made[0]}$`, 'm'));
  assert.match(shown, /^status +pending$/m);
  assert.match(shown, /^reason +handler_failed after 5 attempts$/m);
  assert.match(shown, /^ {2}ce_type +payment\.succeeded$/m);
  assert.match(shown, /"amount": 700/);
  assert.match(shown, /^error:\nError: refused 0\n {4}at somewhere$/m);

  assert.match(
    (await cli('dead-letters', 'redrive', made[0]!)).stdout,
    /^marked 1 dead letter for a redrive/,
  );
  assert.match((await cli('dead-letters', 'redrive', '--consumer', 'fraud')).stdout, /^marked 1 dead letter/);
  assert.match(
    (await cli('dead-letters', 'discard', '--all', '--reason', 'replayed by hand')).stdout,
    /^discarded 3 dead letters$/m,
  );
  assert.match(
    (await cli('dead-letters', 'show', made[2]!)).stdout,
    /^status +discarded: replayed by hand$/m,
  );
  assert.match((await cli('dead-letters', 'list', '--status', 'pending')).stdout, /^no dead letters$/m);

  await fails(['dead-letters', 'discard', '--all'], /discard needs --reason/);
  await fails(['dead-letters', 'discard', '--all', '--reason', '  '], /discard needs --reason/);
  await fails(['dead-letters', 'redrive'], /ids, or --consumer C, or --all/);
  await fails(['dead-letters', 'redrive', made[0]!, '--all'], /ids, or --consumer C, or --all/);
  await fails(['dead-letters', 'list', '--status', 'lost'], /--status must be one of pending/);
  await fails(['dead-letters', 'list', '--limit', '0'], /--limit must be 1 to 1000/);
  await fails(['dead-letters', 'show', 'dl_missing'], /no dead letter dl_missing/);
  await fails(['dead-letters', 'bogus'], /unknown action bogus/);

  const admin = await cli('keys', 'create', '--admin', '--name', 'ops');
  assert.match(admin.stdout.trim(), /^sk_test_[A-Za-z0-9]{32}$/);
  assert.match(admin.stderr, /created admin key key_\S+: it reaches \/v1\/admin only/);
  await fails(
    ['keys', 'create', '--admin', '--merchant', `acct_${'0'.repeat(26)}`],
    /admin key belongs to no merchant/,
  );
  assert.match((await cli('keys', 'list')).stdout, /^key_\S+ +acct_\S+ +sk_test_\S+ +active +admin +ops$/m);

  const lag = (await cli('lag')).stdout;
  assert.match(lag, /^receipts {2}group paystream\.receipts {2}lag 0 events {2}dead letters pending 0$/m);
  assert.match(lag, /^ {2}TOPIC +PARTITION +COMMITTED +END +LAG$/m);
});
