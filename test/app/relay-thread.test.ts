import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRelayThread } from '../../src/app/relay-thread.ts';
import { loadConfig } from '../../src/platform/config.ts';
import type { Store } from '../../src/store/store.ts';

const standIn = new URL('./relay-thread-stand-in.ts', import.meta.url);

/** The supervisor over a stand-in thread that behaves as told (test/app/relay-thread-stand-in.ts). */
async function supervised(behaviour: string) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paystream-relay-thread-'));
  writeFileSync(path.join(dataDir, 'behaviour'), behaviour);
  const errors: string[] = [];
  const relay = await startRelayThread({
    config: loadConfig({ PAYSTREAM_DATA_DIR: dataDir }),
    eventRetentionMs: 86_400_000,
    store: {} as Store,
    onError: (error) => errors.push(error.message),
    threadModule: standIn,
    restartDelayMs: 50,
    stopGraceMs: 500,
  });
  return { relay, errors, cleanup: () => rmSync(dataDir, { recursive: true, force: true }) };
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 10_000; !check(); await sleep(20)) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
  }
}

test('a relay thread that dies is reported and started again; its counts carry over', async () => {
  const { relay, errors, cleanup } = await supervised('die-once');
  try {
    assert.equal(relay.active, true);
    await until('the second thread', () => relay.counts.published === 10);
    assert.deepEqual(relay.counts, { published: 10, batches: 2, failedRounds: 0 });
    assert.ok(
      errors.some((e) => e.includes('the stand-in relay crashed')),
      errors.join('; '),
    );
    assert.ok(
      errors.some((e) => e.includes('starting another')),
      errors.join('; '),
    );
    assert.equal(relay.active, true);
  } finally {
    await relay.stop();
    cleanup();
  }
});

test('stop() waits for a thread that stops, and terminates one that does not within its grace', async () => {
  const polite = await supervised('stop');
  const started = Date.now();
  await polite.relay.stop();
  assert.ok(Date.now() - started < 400, 'a thread that stops is not held to the grace period');
  assert.deepEqual(polite.errors, []);
  polite.cleanup();

  const stuck = await supervised('hang');
  const before = Date.now();
  await stuck.relay.stop();
  const took = Date.now() - before;
  assert.ok(took >= 450 && took < 5000, `stop() took ${took} ms with a 500 ms grace`);
  assert.ok(
    stuck.errors.some((e) => e.includes('did not stop')),
    stuck.errors.join('; '),
  );
  assert.equal(stuck.relay.active, false);
  await stuck.relay.stop(); // once stopped, stop() again returns at once
  stuck.cleanup();
});
