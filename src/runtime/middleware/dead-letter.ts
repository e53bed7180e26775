import type { Middleware, RuntimeContext } from '../consumer.ts';
import type { DeadLetters } from '../dead-letters.ts';
import { HandlerTimeoutError } from '../errors.ts';
import { AttemptsExhaustedError } from './retry.ts';

/**
 * Ends an event whose attempts are exhausted in the dead letters, with the reason, the number of
 * attempts, the last error and the record as it came (headers included), so that the partition
 * moves on and an operator can redrive it after a fix. Anything else (a stopping worker) passes.
 */
export function deadLetter(deadLetters: DeadLetters): Middleware<RuntimeContext> {
  return (next) => async (ctx) => {
    try {
      await next(ctx);
    } catch (error) {
      if (!(error instanceof AttemptsExhaustedError)) throw error;
      const last = error.cause;
      const reason = last instanceof HandlerTimeoutError ? 'timeout' : 'handler_failed';
      ctx.outcome.deadLettered = reason;
      // A dry run reports that the event would end here, and writes nothing.
      if (ctx.dryRun) return;
      await deadLetters.add({
        consumer: ctx.consumer,
        eventId: ctx.event.id,
        eventType: ctx.event.type,
        record: ctx.record,
        reason,
        attempts: error.attempts,
        error: describe(last),
      });
    }
  };
}

export function describe(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}
