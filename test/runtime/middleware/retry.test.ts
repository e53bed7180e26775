import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Breakers } from '../../../src/runtime/breakers.ts';
import { AbandonedError, ProviderUnavailableError } from '../../../src/runtime/errors.ts';
import { breaker } from '../../../src/runtime/middleware/breaker.ts';
import { AttemptsExhaustedError, retry, retryDelay } from '../../../src/runtime/middleware/retry.ts';
import { testContext } from './context.ts';

test('retries a failing attempt up to maxAttempts, then throws AttemptsExhaustedError with the last error', async () => {
  const attempts: number[] = [];
  const handler = retry({ maxAttempts: 4, baseDelayMs: 1, breakers: new Breakers() })(async (ctx) => {
    attempts.push(ctx.attempt);
    throw new Error(`boom ${ctx.attempt}`);
  });
  const ctx = testContext();
  const error = await handler(ctx).catch((e) => e);
  assert.ok(error instanceof AttemptsExhaustedError);
  assert.equal(error.attempts, 4);
  assert.match(String((error.cause as Error).message), /boom 4/);
  assert.deepEqual(attempts, [1, 2, 3, 4]);
  assert.equal(ctx.outcome.attempts, 4);
});

test('stops retrying once an attempt succeeds', async () => {
  let n = 0;
  const ctx = testContext();
  await retry({ maxAttempts: 5, baseDelayMs: 1, breakers: new Breakers() })(async () => {
    n += 1;
    if (n < 3) throw new Error('not yet');
  })(ctx);
  assert.equal(n, 3);
  assert.equal(ctx.outcome.attempts, 3);
});

test('waits are exponential with full jitter, bounded by maxDelayMs', () => {
  const top = () => 0.999_999;
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n) => retryDelay(n, 40, 100, top)),
    [39, 79, 99, 99, 99],
  );
  assert.equal(
    retryDelay(3, 40, 100, () => 0),
    0,
  );
  assert.equal(
    retryDelay(2, 40, 100, () => 0.5),
    40,
  );
});

test('a provider outage costs no attempt: the event waits for the breaker instead of being given up', async () => {
  const breakers = new Breakers();
  let calls = 0;
  const ctx = testContext();
  await retry({ maxAttempts: 2, baseDelayMs: 1, breakers })(async () => {
    calls += 1;
    if (calls <= 5) throw new ProviderUnavailableError('smtp');
  })(ctx);
  assert.equal(calls, 6);
  assert.equal(ctx.outcome.attempts, 1);
});

test('a stopping worker abandons the wait: the event is left for redelivery, not dead-lettered', async () => {
  const draining = new AbortController();
  const handler = retry({ maxAttempts: 5, baseDelayMs: 10_000, breakers: new Breakers() })(async () => {
    throw new Error('fails');
  });
  const pending = handler(testContext({ draining: draining.signal }));
  setTimeout(() => draining.abort(), 20);
  await assert.rejects(pending, AbandonedError);
});

test('an event whose failures alone opened the breaker is not waiting for an outage: its attempts count', async () => {
  const breakers = new Breakers({ threshold: 3, halfOpenAfterMs: 50 });
  let calls = 0;
  const chain = retry({ maxAttempts: 3, baseDelayMs: 1, breakers })(
    breaker(breakers, ['smtp'])(async (ctx) => {
      await ctx.effect('smtp', 'send', async () => {
        calls += 1;
        throw new Error('550 for this address only');
      });
    }),
  );
  await assert.rejects(chain(testContext()), AttemptsExhaustedError);
  assert.equal(calls, 3, 'dead-lettered after its 3 attempts, not held waiting for the breaker');
});

test('failures of several events that open the breaker are an outage: they cost no attempt', async () => {
  const breakers = new Breakers({ threshold: 2, halfOpenAfterMs: 30 });
  let down = true;
  const chain = retry({ maxAttempts: 2, baseDelayMs: 1, breakers })(
    breaker(breakers, ['smtp'])(async (ctx) => {
      await ctx.effect('smtp', 'send', async () => {
        if (down) throw new Error('connection refused');
      });
    }),
  );
  const a = testContext();
  const b = testContext({ event: { ...a.event, id: '0190d3c0-0000-7000-8000-000000000002' } });
  const both = Promise.all([chain(a), chain(b)]);
  setTimeout(() => {
    down = false;
  }, 300);
  await both;
  assert.ok(a.outcome.attempts <= 2 && b.outcome.attempts <= 2);
});
