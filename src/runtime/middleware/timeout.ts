import type { Middleware, RuntimeContext } from '../consumer.ts';
import { AbandonedError, HandlerTimeoutError } from '../errors.ts';

/**
 * Bounds one attempt: after `timeoutMs` (or when the stopping worker abandons it) the attempt's `signal` is
 * aborted and the attempt fails, even if the handler ignores the signal. A handler still running
 * then cannot commit: `ctx.transaction` refuses an aborted attempt.
 */
export function timeout(timeoutMs: number): Middleware<RuntimeContext> {
  return (next) => async (ctx) => {
    const controller = new AbortController();
    const onStop = () =>
      controller.abort(new AbandonedError('the worker stopped before the attempt finished'));
    if (ctx.abandon.aborted) onStop();
    ctx.abandon.addEventListener('abort', onStop, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new HandlerTimeoutError(`the handler took longer than ${timeoutMs} ms`);
        controller.abort(error);
        reject(error);
      }, timeoutMs);
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    expired.catch(() => undefined);
    try {
      await Promise.race([next({ ...ctx, signal: controller.signal }), expired]);
    } finally {
      clearTimeout(timer);
      ctx.abandon.removeEventListener('abort', onStop);
    }
  };
}
