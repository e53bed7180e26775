import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AbandonedError } from '../../../src/runtime/errors.ts';
import { concurrency } from '../../../src/runtime/middleware/concurrency.ts';
import { testContext } from './context.ts';

test('at most `limit` attempts run at once; the rest wait their turn and all finish', async () => {
  let running = 0;
  let most = 0;
  const handler = concurrency(3)(async () => {
    running += 1;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 10));
    running -= 1;
  });
  await Promise.all(Array.from({ length: 20 }, () => handler(testContext())));
  assert.equal(most, 3);
  assert.equal(running, 0);
});

test('a failing attempt gives its slot back', async () => {
  const handler = concurrency(1)(async (ctx) => {
    if (ctx.attempt === 1) throw new Error('x');
  });
  await assert.rejects(handler(testContext({ attempt: 1 })));
  await handler(testContext({ attempt: 2 }));
});

test('a draining worker stops the waiting ones', async () => {
  const draining = new AbortController();
  const handler = concurrency(1)(() => new Promise((r) => setTimeout(r, 200)));
  const first = handler(testContext());
  const second = handler(testContext({ draining: draining.signal }));
  draining.abort();
  await assert.rejects(second, AbandonedError);
  await first;
});
