import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Closers } from '../../src/app/closers.ts';

test('closers run once, last added first, however often close() is called', async () => {
  const ran: number[] = [];
  const closers = new Closers();
  for (const n of [1, 2, 3]) {
    closers.add(async () => {
      await new Promise((r) => setTimeout(r, 5));
      ran.push(n);
    });
  }
  await Promise.all([closers.close(), closers.close()]);
  await closers.close();
  assert.deepEqual(ran, [3, 2, 1]);
});

test('a failing closer is reported and does not stop the others', async () => {
  const ran: string[] = [];
  const errors: unknown[] = [];
  const closers = new Closers((error) => errors.push(error));
  closers.add(async () => {
    ran.push('first');
  });
  closers.add(async () => {
    throw new Error('boom');
  });
  await closers.close();
  assert.deepEqual(ran, ['first']);
  assert.equal((errors[0] as Error).message, 'boom');
});
