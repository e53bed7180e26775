import type { Breakers } from '../breakers.ts';
import { isBrokenCircuit } from '../breakers.ts';
import type { Middleware, RuntimeContext } from '../consumer.ts';
import { ProviderUnavailableError } from '../errors.ts';

/**
 * Gives the handler its `ctx.effect`: each external call goes through its provider's circuit
 * breaker (breakers.ts). A call refused by an open breaker throws ProviderUnavailableError, which
 * the retry middleware does not count as an attempt: the event waits for the provider instead of
 * being dead-lettered for its outage. In a dry run the call is not made; its description is kept
 * as what would have been done.
 */
export function breaker(breakers: Breakers, providers: readonly string[]): Middleware<RuntimeContext> {
  const known = new Set(providers);
  return (next) => (ctx) =>
    next({
      ...ctx,
      async effect<T>(provider: string, description: string, run: (signal: AbortSignal) => Promise<T>) {
        if (!known.has(provider)) {
          throw new Error(
            `consumer ${ctx.consumer} calls provider "${provider}" it does not declare in providers`,
          );
        }
        if (ctx.dryRun) {
          ctx.outcome.suppressed.push(`${provider}: ${description}`);
          return undefined;
        }
        try {
          return await breakers.execute(provider, run, ctx.signal, ctx.event.id);
        } catch (error) {
          if (isBrokenCircuit(error)) throw new ProviderUnavailableError(provider, error);
          ctx.outcome.failedProvider = provider;
          throw error;
        }
      },
    });
}
