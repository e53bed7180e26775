import type { Middleware, RuntimeContext } from '../consumer.ts';
import { AbandonedError } from '../errors.ts';

/**
 * At most `limit` attempts of a consumer run at once in this process (an event waiting for a
 * retry holds no slot). With one event per key at a time (the runner's parking), this is how many
 * customers are served in parallel: the knob for I/O-bound handlers.
 */
export function concurrency(limit: number): Middleware<RuntimeContext> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return (next) => async (ctx) => {
    if (running >= limit) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const i = waiting.indexOf(go);
          if (i >= 0) waiting.splice(i, 1);
          reject(new AbandonedError('the worker is stopping'));
        };
        const go = () => {
          ctx.draining.removeEventListener('abort', onAbort);
          resolve();
        };
        waiting.push(go);
        ctx.draining.addEventListener('abort', onAbort, { once: true });
      });
    } else {
      running += 1;
    }
    try {
      await next(ctx);
    } finally {
      const wake = waiting.shift();
      if (wake) wake();
      else running -= 1;
    }
  };
}
