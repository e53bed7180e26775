import type { Transaction } from 'kysely';
import type { CloudEvent } from '../events/envelope.ts';
import type { NewEvent } from '../events/outbox.ts';
import type { Logger } from '../platform/logger.ts';
import type { Database } from '../store/database.ts';
import type { TransportRecord } from '../transport/transport.ts';

/**
 * A consumer: a name, a consumer group, the event types it wants, and a handler. The runtime
 * (runner.ts) subscribes it through the Transport, reads each record as a catalogue event, and
 * calls the handler wrapped in middleware (inbox, retry, dead letter, breaker, timeout). Every
 * paystream service is one or more of these; adding a service adds consumers, never a change to
 * the payment core.
 */
export interface ConsumerDefinition {
  /** Unique across paystream, `[a-z0-9-]+`: names the inbox rows, dead letters and metrics. */
  readonly name: string;
  /** The consumer group; defaults to `paystream.<name>`. */
  readonly group?: string;
  /** The event types it handles; other events on its topics are skipped (and committed). */
  readonly types: readonly string[];
  readonly handle: Handler;
  /** External providers it calls through `ctx.effect`, each behind its own circuit breaker. */
  readonly providers?: readonly string[];
  /** Events handled at once (each key one at a time). Default 16. */
  readonly concurrency?: number;
  /** Attempts before an event is dead-lettered. Default 5. */
  readonly maxAttempts?: number;
  /** Time one attempt may take. Default 30 s. */
  readonly timeoutMs?: number;
  /** Where a group that never committed starts. Default 'earliest'. */
  readonly startFrom?: 'earliest' | 'latest';
}

/** What `ctx.transaction`'s callback gets besides the transaction: the outbox, for events of its own. */
export type Emit = (event: NewEvent) => Promise<CloudEvent>;

/** What a handler is given for one event. */
export interface HandlerContext {
  readonly consumer: string;
  /** The event, validated and upcast to its type's current version (events/catalogue.ts readEvent). */
  readonly event: CloudEvent;
  /** The transport record it came in (topic, partition, offset, key, headers). */
  readonly record: TransportRecord;
  /** 1 on the first attempt. */
  readonly attempt: number;
  /** Aborted when the attempt's time is up or the worker is stopping: stop and throw. */
  readonly signal: AbortSignal;
  /** A dry-run replay: `effect` does not run its work, and `transaction` is rolled back. */
  readonly dryRun: boolean;
  readonly log: Logger;
  /**
   * Runs an external effect (an SMTP send, a push) through `provider`'s circuit breaker. Give it a
   * deterministic idempotency key derived from the event id (the email's Message-ID): an event is
   * redelivered after a crash between the effect and the transaction. In a dry-run `run` is not
   * called: `description` is reported as what would have been done, and `undefined` returned.
   */
  effect<T>(
    provider: string,
    description: string,
    run: (signal: AbortSignal) => Promise<T>,
  ): Promise<T | undefined>;
  /**
   * The handler's own writes, in ONE store transaction that also records the event in the inbox
   * (and, on the embedded log, moves the group's offset): all commit together or none does. Call it
   * at most once, after the effects, and do no I/O but the database inside it. A handler that
   * never calls it gets an inbox-only transaction after it returns. `emit` writes an event of the
   * service's own to the outbox in the same transaction.
   */
  transaction<T>(work: (trx: Transaction<Database>, emit: Emit) => Promise<T>): Promise<T>;
}

export type Handler<C extends HandlerContext = HandlerContext> = (ctx: C) => Promise<void>;

/** Wraps a handler: `(handler) => handler`. The runtime's policies are each one of these. */
export type Middleware<C extends HandlerContext = HandlerContext> = (next: Handler<C>) => Handler<C>;

/** Applies middleware outermost first: `compose([a, b], h)` is `a(b(h))`. */
export function compose<C extends HandlerContext>(
  middleware: readonly Middleware<C>[],
  handler: Handler<C>,
): Handler<C> {
  return middleware.reduceRight((next, wrap) => wrap(next), handler);
}

/**
 * The context the runtime's own middleware sees: the handler's, plus the runtime's writes to add
 * to the handler's transaction and what became of the event.
 */
export interface RuntimeContext extends HandlerContext {
  /** Aborted when the worker starts to stop: no new attempt, no more waiting for a retry. */
  readonly draining: AbortSignal;
  /** Aborted when the worker gives up on attempts still running (after its grace period). */
  readonly abandon: AbortSignal;
  /** Writes the inbox adds to the handler's transaction (the offset, a redrive's mark). */
  readonly inTransaction: readonly ((trx: Transaction<Database>) => Promise<void>)[];
  readonly outcome: Outcome;
}

/** What became of one event, for metrics, logs and replay reports. */
export interface Outcome {
  /**
   * Set when the event was not applied: already in the inbox, its type is not the consumer's, it
   * is held in the dead letters, or it lies past a replay's end.
   */
  skipped?: 'inbox' | 'type' | 'held' | 'range';
  /** Set when it ended in the dead letters. */
  deadLettered?: string;
  /** The effects a dry run suppressed, as their descriptions. */
  readonly suppressed: string[];
  /** Attempts made (failed ones included). */
  attempts: number;
  /** The provider whose call failed in the last attempt, if that is how it failed. */
  failedProvider?: string | undefined;
}

export const consumerNamePattern = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function groupOf(consumer: ConsumerDefinition): string {
  return consumer.group ?? `paystream.${consumer.name}`;
}
