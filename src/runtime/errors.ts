/** An attempt ran longer than the consumer's `timeoutMs`. */
export class HandlerTimeoutError extends Error {
  override name = 'HandlerTimeoutError';
}

/**
 * A provider's circuit breaker is open: the call was not made. Not the event's fault, so it costs
 * no attempt: the event waits (its key parked) until the breaker lets a probe through.
 */
export class ProviderUnavailableError extends Error {
  override name = 'ProviderUnavailableError';
  readonly provider: string;
  constructor(provider: string, cause?: unknown) {
    super(`provider ${provider} is unavailable (its circuit breaker is open)`, { cause });
    this.provider = provider;
  }
}

/** The worker is stopping: the event is left uncommitted, to be redelivered. */
export class AbandonedError extends Error {
  override name = 'AbandonedError';
}

/** The event is already in the consumer's inbox: it was applied before. */
export class AlreadyProcessedError extends Error {
  override name = 'AlreadyProcessedError';
}

/** The rollback a dry run ends its transaction with. */
export class DryRunRollback extends Error {
  override name = 'DryRunRollback';
  readonly result: unknown;
  constructor(result: unknown) {
    super('dry run: rolled back');
    this.result = result;
  }
}

/**
 * The provider answered and refused this event (an SMTP 550 for one address, an HTTP 4xx for one
 * request): the event's fault, not an outage. Throw it (or wrap the provider's error in it) from an
 * effect: it does not count against the provider's circuit breaker, and the retry middleware
 * counts it as a failed attempt, so the event ends in the dead letters after its attempts while the
 * provider keeps serving every other event.
 */
export class EffectRejectedError extends Error {
  override name = 'EffectRejectedError';
}
