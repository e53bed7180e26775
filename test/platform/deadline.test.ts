import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { settledWithin } from '../../src/platform/deadline.ts';

test('settledWithin: true once the work settles either way, false when the time runs out first', async () => {
  assert.equal(await settledWithin(sleep(5), 1000), true);
  assert.equal(await settledWithin(Promise.reject(new Error('refused')), 1000), true);
  assert.equal(await settledWithin(undefined, 1000), true);
  const startedAt = performance.now();
  assert.equal(await settledWithin(new Promise(() => undefined), 50), false);
  assert.ok(performance.now() - startedAt < 1000, 'it gave up after about 50 ms');
});
