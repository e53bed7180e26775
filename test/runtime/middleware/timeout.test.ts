import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AbandonedError, HandlerTimeoutError } from '../../../src/runtime/errors.ts';
import { timeout } from '../../../src/runtime/middleware/timeout.ts';
import { testContext } from './context.ts';

test('an attempt past its time fails with HandlerTimeoutError and its signal is aborted', async () => {
  let seen: AbortSignal | undefined;
  const started = performance.now();
  const handler = timeout(50)(async (ctx) => {
    seen = ctx.signal;
    await new Promise((r) => setTimeout(r, 1000));
  });
  await assert.rejects(handler(testContext()), HandlerTimeoutError);
  assert.ok(performance.now() - started < 500, 'it does not wait for the handler');
  assert.equal(seen?.aborted, true);
});

test('an attempt in time passes, and its timer does not linger', async () => {
  await timeout(1000)(async () => undefined)(testContext());
});

test('abandoning the worker aborts the attempt at once', async () => {
  const abandon = new AbortController();
  const handler = timeout(10_000)(() => new Promise(() => undefined));
  const pending = handler(testContext({ abandon: abandon.signal }));
  abandon.abort();
  await assert.rejects(pending, AbandonedError);
});
