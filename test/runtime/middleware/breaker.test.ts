import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Breakers } from '../../../src/runtime/breakers.ts';
import { EffectRejectedError, ProviderUnavailableError } from '../../../src/runtime/errors.ts';
import { breaker } from '../../../src/runtime/middleware/breaker.ts';
import { testContext } from './context.ts';

test('consecutive provider failures open its breaker; calls are then refused without reaching it, and a probe after the wait closes it', async () => {
  const breakers = new Breakers({ threshold: 3, halfOpenAfterMs: 100 });
  let down = true;
  let reached = 0;
  const handler = breaker(breakers, ['smtp'])(async (ctx) => {
    await ctx.effect('smtp', 'send', async () => {
      reached += 1;
      if (down) throw new Error('connection refused');
    });
  });
  for (let i = 0; i < 3; i += 1) await assert.rejects(handler(testContext()), /connection refused/);
  assert.equal(breakers.state('smtp'), 'open');
  await assert.rejects(handler(testContext()), ProviderUnavailableError);
  assert.equal(reached, 3, 'an open breaker does not call the provider');
  down = false;
  await new Promise((r) => setTimeout(r, 150));
  await handler(testContext());
  assert.equal(breakers.state('smtp'), 'closed');
  assert.equal(reached, 4);
});

test('a failed provider call is marked as the provider’s, for the retry middleware', async () => {
  const ctx = testContext();
  await assert.rejects(
    breaker(new Breakers(), ['push'])(async (c) => {
      await c.effect('push', 'notify', async () => {
        throw new Error('503');
      });
    })(ctx),
  );
  assert.equal(ctx.outcome.failedProvider, 'push');
});

test('in a dry run the effect is not run; its description is kept', async () => {
  const ctx = testContext({ dryRun: true });
  let ran = false;
  await breaker(new Breakers(), ['smtp'])(async (c) => {
    const result = await c.effect('smtp', 'send a receipt to a@b.c', async () => {
      ran = true;
      return 1;
    });
    assert.equal(result, undefined);
  })(ctx);
  assert.equal(ran, false);
  assert.deepEqual(ctx.outcome.suppressed, ['smtp: send a receipt to a@b.c']);
});

test('a provider the consumer did not declare is refused', async () => {
  await assert.rejects(
    breaker(new Breakers(), ['smtp'])(async (c) => {
      await c.effect('sms', 'text', async () => undefined);
    })(testContext()),
    /does not declare/,
  );
});

test('a refusal of one event (EffectRejectedError) never opens the breaker', async () => {
  const breakers = new Breakers({ threshold: 2 });
  const handler = breaker(breakers, ['smtp'])(async (ctx) => {
    await ctx.effect('smtp', 'send', async () => {
      throw new EffectRejectedError('550 no such mailbox');
    });
  });
  for (let i = 0; i < 5; i += 1) await assert.rejects(handler(testContext()), EffectRejectedError);
  assert.equal(breakers.state('smtp'), 'closed');
});
