import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
} from 'cockatiel';
import { EffectRejectedError } from './errors.ts';

export interface BreakerOptions {
  /** Consecutive failures that open a breaker. Default 5. */
  threshold?: number;
  /** First wait before a probe; doubles while probes fail, up to `maxHalfOpenAfterMs`. Default 1 s. */
  halfOpenAfterMs?: number;
  maxHalfOpenAfterMs?: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * One circuit breaker per external provider (SMTP, a push service, a webhook endpoint), shared by
 * every consumer of the process that calls it (cockatiel's breaker). While one is open, the
 * consumers that use its provider pause their subscriptions (runner.ts) instead of spinning, and
 * the events already in hand wait; after the open period one call goes through as a probe, and
 * its success closes the breaker and resumes them.
 */
export class Breakers {
  readonly #options: Required<BreakerOptions>;
  readonly #policies = new Map<string, CircuitBreakerPolicy>();
  readonly #listeners = new Set<(provider: string, state: BreakerState) => void>();
  /** Per provider: the events whose calls failed since its last success (the current streak). */
  readonly #streaks = new Map<string, Set<string>>();

  constructor(options: BreakerOptions = {}) {
    this.#options = {
      threshold: options.threshold ?? 5,
      halfOpenAfterMs: options.halfOpenAfterMs ?? 1000,
      maxHalfOpenAfterMs: options.maxHalfOpenAfterMs ?? 10_000,
    };
  }

  #policy(provider: string): CircuitBreakerPolicy {
    let policy = this.#policies.get(provider);
    if (!policy) {
      // A refusal of one event (EffectRejectedError) says nothing about the provider's health.
      policy = circuitBreaker(
        handleWhen((error) => !(error instanceof EffectRejectedError)),
        {
          breaker: new ConsecutiveBreaker(this.#options.threshold),
          halfOpenAfter: new ExponentialBackoff({
            initialDelay: this.#options.halfOpenAfterMs,
            maxDelay: this.#options.maxHalfOpenAfterMs,
          }),
        },
      );
      const p = policy;
      p.onStateChange(() => {
        for (const listener of this.#listeners) listener(provider, stateOf(p.state));
      });
      this.#policies.set(provider, policy);
    }
    return policy;
  }

  /**
   * Calls `run` for event `eventId` through the provider's breaker; throws BrokenCircuitError
   * without calling it when open.
   */
  execute<T>(
    provider: string,
    run: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal,
    eventId = '',
  ): Promise<T> {
    return this.#policy(provider).execute(async ({ signal: s }) => {
      try {
        const result = await run(s);
        this.#streaks.delete(provider);
        return result;
      } catch (error) {
        if (!(error instanceof EffectRejectedError)) {
          const streak = this.#streaks.get(provider) ?? new Set<string>();
          streak.add(eventId);
          this.#streaks.set(provider, streak);
        }
        throw error;
      }
    }, signal);
  }

  /**
   * True when every failed call since the provider's last success was for this one event: the
   * provider may be down, or the event may be the only thing it refuses (a poison event that fails
   * alone). Nothing tells them apart, so the retry middleware counts such a failure as an attempt:
   * a poison event ends in the dead letters instead of holding the breaker, and its consumer,
   * forever; an outage seen by one event alone costs it attempts (10 for receipts, minutes of
   * backoff) before it too is parked there, for a redrive.
   */
  failingAlone(provider: string, eventId: string): boolean {
    const streak = this.#streaks.get(provider);
    return streak !== undefined && streak.size === 1 && streak.has(eventId);
  }

  state(provider: string): BreakerState {
    const policy = this.#policies.get(provider);
    return policy ? stateOf(policy.state) : 'closed';
  }

  /** Every provider a breaker exists for, with its state. */
  states(): Record<string, BreakerState> {
    return Object.fromEntries([...this.#policies].map(([name, p]) => [name, stateOf(p.state)]));
  }

  /** Told of every state change; returns the unsubscribe function. */
  onChange(listener: (provider: string, state: BreakerState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves when a call to the provider may be tried again: at its next state change, or after a
   * short wait (an open breaker turns half-open only when called after its open period). Rejects
   * with `signal`'s reason when it aborts.
   */
  async whenMayProbe(provider: string, signal: AbortSignal, pollMs = 250): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const unsubscribe = this.onChange((p) => {
      if (p === provider) resolve();
    });
    const timer = setTimeout(resolve, pollMs);
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await promise;
    } finally {
      unsubscribe();
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }
}

export function isBrokenCircuit(error: unknown): boolean {
  return error instanceof BrokenCircuitError;
}

function stateOf(state: CircuitState): BreakerState {
  if (state === CircuitState.Closed) return 'closed';
  if (state === CircuitState.HalfOpen) return 'half-open';
  return 'open';
}
