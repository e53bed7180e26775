import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dialect } from '../../src/store/store.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';

const root = path.resolve(import.meta.dirname, '../..');
const holdMs = 1500;

/**
 * Another process (`paystream keys`, a worker, psql) takes the write lock and keeps it for `holdMs`.
 * SQLite: BEGIN IMMEDIATE on the same file (waiting its turn, as a real process would: the app's
 * own relay, consumers and leases write now and then). PostgreSQL: the tables a payment writes, locked
 * against writers (reads still pass), which is what a long migration or a stuck batch job does.
 */
function lockHolder(t: TestApp, dialect: Dialect) {
  const code =
    dialect === 'sqlite'
      ? `import { DatabaseSync } from 'node:sqlite';
         const db = new DatabaseSync(${JSON.stringify(t.db.sqlitePath)}, { timeout: 5000 });
         db.exec('BEGIN IMMEDIATE');
         console.log('locked');
         setTimeout(() => { db.exec('COMMIT'); process.exit(0); }, ${holdMs});`
      : `import pg from 'pg';
         const c = new pg.Client({ connectionString: ${JSON.stringify(t.db.databaseUrl)} });
         await c.connect();
         await c.query('BEGIN');
         await c.query('LOCK TABLE payments, idempotency_records IN EXCLUSIVE MODE');
         console.log('locked');
         setTimeout(async () => { await c.query('COMMIT'); await c.end(); process.exit(0); }, ${holdMs});`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const locked = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('locked')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
  });
  return { locked, exited: once(child, 'exit') };
}

/** The longest gap between ticks of a 5 ms interval: how long the event loop was blocked. */
function eventLoopWatch() {
  let last = performance.now();
  let maxGapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
  }, 5);
  return {
    stop: () => {
      clearInterval(timer);
      return maxGapMs;
    },
  };
}

for (const dialect of dialects()) {
  describe(`a lock held by another process does not stall the API (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(() => t.close());

    test('reads answer at once, the event loop keeps turning, and a payment waits for the lock', async () => {
      const paid = await t.post('/v1/payments', {
        customer_id: 'cus_lock',
        amount: 700,
        currency: 'usd',
        payment_method: 'pm_card_visa',
      });
      assert.equal(paid.status, 200);

      const holder = lockHolder(t, dialect);
      await holder.locked;
      const watch = eventLoopWatch();
      const lockedAt = performance.now();
      // Waits for the lock, asynchronously: nothing else may stall meanwhile.
      const payment = t.post('/v1/payments', {
        customer_id: 'cus_lock',
        amount: 800,
        currency: 'usd',
        payment_method: 'pm_card_visa',
      });
      const readTimesMs: number[] = [];
      while (performance.now() - lockedAt < holdMs * 0.6) {
        const startedAt = performance.now();
        const read = await t.get(`/v1/payments/${paid.json.id}`);
        assert.equal(read.status, 200);
        readTimesMs.push(performance.now() - startedAt);
        await sleep(50);
      }
      const second = await payment;
      const maxGapMs = watch.stop();
      await holder.exited;

      assert.equal(second.status, 200, JSON.stringify(second.json));
      assert.equal(second.json.status, 'succeeded');
      assert.ok(
        performance.now() - lockedAt >= holdMs * 0.6,
        'the payment could only be written after the lock',
      );
      assert.ok(readTimesMs.length >= 5, `only ${readTimesMs.length} reads during the lock`);
      assert.ok(Math.max(...readTimesMs) < 250, `a read took ${Math.round(Math.max(...readTimesMs))} ms`);
      assert.ok(maxGapMs < 250, `the event loop stood still for ${Math.round(maxGapMs)} ms`);
    });
  });
}
