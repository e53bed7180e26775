import { setTimeout as sleep } from 'node:timers/promises';
import type { Breakers } from '../breakers.ts';
import type { Middleware, RuntimeContext } from '../consumer.ts';
import { AbandonedError, ProviderUnavailableError } from '../errors.ts';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** The first retry waits up to this long; each next one up to twice as long. Default 200 ms. */
  baseDelayMs?: number;
  /** No retry waits longer than this. Default 30 s. */
  maxDelayMs?: number;
  breakers: Breakers;
  /** [0, 1): the jitter's source (tests pass a fixed one). */
  random?: () => number;
  /** Told of every failed attempt. */
  onFailure?: (ctx: RuntimeContext, error: unknown, attempt: number) => void;
}

/** Thrown when every attempt failed: the dead-letter middleware takes it from here. */
export class AttemptsExhaustedError extends Error {
  override name = 'AttemptsExhaustedError';
  readonly attempts: number;
  constructor(attempts: number, cause: unknown) {
    super(`gave up after ${attempts} attempts: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.attempts = attempts;
  }
}

/** The wait after failed attempt `attempt`: drawn from [0, min(max, base * 2^(attempt-1))). */
export function retryDelay(attempt: number, base: number, max: number, random: () => number): number {
  return Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1)));
}

/**
 * Retries a failed attempt with bounded exponential backoff and full jitter (a wait drawn from
 * [0, min(max, base * 2^(n-1)))), up to `maxAttempts`, then throws AttemptsExhaustedError. While it
 * waits, the event's key stays parked: later events of the same customer wait behind it (the
 * runner hands a key its next event only when this one is done), other customers keep flowing.
 *
 * An outage is not the event's fault, so it costs no attempt: a call refused by an open breaker
 * (ProviderUnavailableError), or a failed provider call after which that provider's breaker is no
 * longer closed, waits for the provider and tries again; unless every failure of the provider's
 * current streak was this event's (Breakers.failingAlone): then it counts, or a poison event that
 * fails alone would hold the breaker open, and its consumer paused, for ever. A refusal of the
 * event itself (EffectRejectedError) always counts. A stopping worker abandons the wait.
 */
export function retry(options: RetryOptions): Middleware<RuntimeContext> {
  const base = options.baseDelayMs ?? 200;
  const max = options.maxDelayMs ?? 30_000;
  const random = options.random ?? Math.random;
  return (next) => async (ctx) => {
    let attempt = 1;
    for (;;) {
      if (ctx.draining.aborted) throw new AbandonedError('the worker is stopping');
      ctx.outcome.failedProvider = undefined;
      try {
        await next({ ...ctx, attempt });
        ctx.outcome.attempts = attempt;
        return;
      } catch (error) {
        if (error instanceof AbandonedError || ctx.abandon.aborted) throw error;
        const failed = ctx.outcome.failedProvider;
        const outage =
          error instanceof ProviderUnavailableError
            ? error.provider
            : failed !== undefined &&
                options.breakers.state(failed) !== 'closed' &&
                !options.breakers.failingAlone(failed, ctx.event.id)
              ? failed
              : undefined;
        if (outage !== undefined) {
          await options.breakers.whenMayProbe(outage, ctx.draining).catch(() => {
            throw new AbandonedError('the worker is stopping');
          });
          continue;
        }
        options.onFailure?.(ctx, error, attempt);
        ctx.outcome.attempts = attempt;
        if (attempt >= options.maxAttempts) throw new AttemptsExhaustedError(attempt, error);
        await sleep(retryDelay(attempt, base, max, random), undefined, { signal: ctx.draining }).catch(() => {
          throw new AbandonedError('the worker is stopping');
        });
        attempt += 1;
      }
    }
  };
}
