import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { fromRecord } from '../events/binary-mode.ts';
import { readEvent, topicOf } from '../events/catalogue.ts';
import type { CloudEvent } from '../events/envelope.ts';
import { OutboxWriter } from '../events/outbox.ts';
import type { Clock } from '../platform/clock.ts';
import { settledWithin } from '../platform/deadline.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import type { Database } from '../store/database.ts';
import type { Store } from '../store/store.ts';
import type { Subscription, TopicPartition, Transport, TransportRecord } from '../transport/transport.ts';
import type { Breakers } from './breakers.ts';
import {
  type ConsumerDefinition,
  compose,
  consumerNamePattern,
  groupOf,
  type Handler,
  type Outcome,
  type RuntimeContext,
} from './consumer.ts';
import type { DeadLetter, DeadLetters } from './dead-letters.ts';
import { AbandonedError } from './errors.ts';
import type { RuntimeMetrics } from './metrics.ts';
import { breaker } from './middleware/breaker.ts';
import { concurrency } from './middleware/concurrency.ts';
import { deadLetter, describe } from './middleware/dead-letter.ts';
import { inbox } from './middleware/inbox.ts';
import { retry } from './middleware/retry.ts';
import { timeout } from './middleware/timeout.ts';
import { OffsetTracker } from './offsets.ts';
import { Parking } from './parking.ts';

/** The most a stop waits for each of its steps that depend on the event log. */
const stopStepMs = 10_000;

export interface RunnerDeps {
  transport: Transport;
  store: Store;
  clock: Clock;
  ids: IdGenerator;
  log: Logger;
  breakers: Breakers;
  deadLetters: DeadLetters;
  metrics?: RuntimeMetrics | undefined;
}

export interface RunnerOptions {
  /** Another group than the consumer's (a replay reads under a group of its own). */
  group?: string;
  startFrom?: 'earliest' | 'latest';
  /** Effects suppressed, transactions rolled back, no offsets committed. */
  dryRun?: boolean;
  /** Apply events even when the inbox has them (an explicit replay choice). */
  bypassInbox?: boolean;
  /** Records taken but not finished before the subscription pauses. Default 1,000. */
  maxBuffered?: number;
  /** How often finished offsets are committed outside handlers' transactions. Default 100 ms. */
  commitIntervalMs?: number;
  /** Dead letters redriven per second, at most; 0: this runner redrives none. Default 10. */
  redrivePerSecond?: number;
  /** Backoff of retries. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Handles nothing at or past these offsets (per `topic:partition`): a bounded replay. */
  stopAt?: ReadonlyMap<string, bigint>;
  /** Only events whose time is before this (epoch ms) are handled; later ones are passed over. */
  until?: number;
  /** Told of every finished event. */
  onFinished?: (finished: Finished) => void;
}

export interface Finished {
  record: TransportRecord;
  event: CloudEvent | undefined;
  outcome: Outcome;
  redrive: boolean;
}

/** A record to handle: from the subscription, or a dead letter being redriven. */
interface Work {
  record: TransportRecord;
  redrive?: DeadLetter;
}

/**
 * Runs one consumer: subscribes its group through the Transport, and hands each record to the
 * handler wrapped in the runtime's middleware, outermost first:
 *
 *   dead letter -> retry -> concurrency -> timeout -> breaker -> inbox -> handler
 *
 * Parking: a key (customer) has at most one event in progress; its later events wait in the key's
 * queue, in order, while other keys flow. Commits are cumulative per partition and never pass an
 * unfinished event (offsets.ts); on the embedded log the offset moves inside the handler's own
 * transaction. The subscription pauses while too many records wait and while a provider's breaker
 * is open. Dead letters an operator asked to redrive are claimed and handed to the same chain.
 */
export class ConsumerRunner {
  readonly consumer: ConsumerDefinition;
  readonly group: string;
  readonly #deps: RunnerDeps;
  readonly #options: RunnerOptions;
  readonly #types: ReadonlySet<string>;
  readonly #chain: Handler<RuntimeContext>;
  readonly #tracker = new OffsetTracker();
  readonly #parking = new Parking<Work>();
  readonly #running = new Set<Promise<void>>();
  readonly #draining = new AbortController();
  readonly #abandon = new AbortController();
  readonly #owner = randomUUID();
  #subscription: Subscription | undefined;
  #loop: Promise<void> | undefined;
  #buffered = 0;
  #pausedFor = { buffer: false, breaker: false, operator: false };
  #paused = false;
  #commitTimer: NodeJS.Timeout | undefined;
  #redriveTimer: NodeJS.Timeout | undefined;
  #committing: Promise<void> = Promise.resolve();
  #unsubscribeBreakers: (() => void) | undefined;
  #untrack: (() => void) | undefined;
  /** The time of the last event handled, for lag in seconds. */
  #lastEventTime: number | undefined;
  #stopped = false;

  constructor(consumer: ConsumerDefinition, deps: RunnerDeps, options: RunnerOptions = {}) {
    if (!consumerNamePattern.test(consumer.name)) {
      throw new Error(`consumer name "${consumer.name}" must match ${consumerNamePattern}`);
    }
    if (consumer.types.length === 0) throw new Error(`consumer ${consumer.name} names no event types`);
    this.consumer = consumer;
    this.group = options.group ?? groupOf(consumer);
    this.#deps = deps;
    this.#options = options;
    this.#types = new Set(consumer.types);
    const metrics = deps.metrics;
    this.#chain = compose<RuntimeContext>(
      [
        deadLetter(deps.deadLetters),
        retry({
          maxAttempts: consumer.maxAttempts ?? 5,
          breakers: deps.breakers,
          ...(options.retryBaseDelayMs === undefined ? {} : { baseDelayMs: options.retryBaseDelayMs }),
          ...(options.retryMaxDelayMs === undefined ? {} : { maxDelayMs: options.retryMaxDelayMs }),
          onFailure: (ctx, error, attempt) => {
            metrics?.attemptFailures.inc({ consumer: consumer.name });
            deps.log.warn(
              { err: error, consumer: consumer.name, eventId: ctx.event.id, attempt },
              'consumer attempt failed',
            );
          },
        }),
        concurrency(consumer.concurrency ?? 16),
        timeout(consumer.timeoutMs ?? 30_000),
        breaker(deps.breakers, consumer.providers ?? []),
        inbox({
          store: deps.store,
          clock: deps.clock,
          outbox: new OutboxWriter(deps.ids, deps.clock),
          bypass: options.bypassInbox ?? false,
        }),
      ],
      consumer.handle,
    );
  }

  /** The topics of the consumer's event types. */
  get topics(): string[] {
    return [...new Set(this.consumer.types.map(topicOf))];
  }

  async start(): Promise<void> {
    const { transport, breakers, metrics } = this.#deps;
    this.#subscription = await transport.subscribe({
      group: this.group,
      topics: this.topics,
      startFrom: this.#options.startFrom ?? this.consumer.startFrom ?? 'earliest',
      onRevoked: (partitions) => this.#revoked(partitions),
    });
    const providers = new Set(this.consumer.providers ?? []);
    this.#unsubscribeBreakers = breakers.onChange((provider) => {
      if (providers.has(provider)) this.#updateBreakerPause();
    });
    this.#updateBreakerPause();
    this.#untrack = metrics?.track({ consumer: this.consumer.name, lag: () => this.lag() });
    this.#loop = this.#consume();
    if (!this.#options.dryRun) {
      this.#commitTimer = setInterval(() => void this.#flushCommits(), this.#options.commitIntervalMs ?? 100);
      const perSecond = this.#options.redrivePerSecond ?? 10;
      if (perSecond > 0) this.#redriveTimer = setInterval(() => void this.#redrive(perSecond), 1000);
    }
  }

  /** Operator pause (the admin API): stops taking records until `resume`. */
  pause(): void {
    this.#pausedFor.operator = true;
    this.#applyPause();
  }

  resume(): void {
    this.#pausedFor.operator = false;
    this.#applyPause();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Records taken and not finished (waiting behind their key, retrying or running). */
  get inFlight(): number {
    return this.#buffered;
  }

  async lag(): Promise<{ events: number; seconds: number }> {
    let events = 0n;
    for (const topic of this.topics) {
      for (const p of await this.#deps.transport.lag(this.group, topic)) events += p.lag;
    }
    const n = Number(events);
    const seconds =
      n > 0 && this.#lastEventTime !== undefined
        ? Math.max(0, (this.#deps.clock.now() - this.#lastEventTime) / 1000)
        : 0;
    return { events: n, seconds };
  }

  async #consume(): Promise<void> {
    const subscription = this.#subscription!;
    const stopAt = this.#options.stopAt;
    try {
      for await (const record of subscription) {
        if (this.#draining.signal.aborted) break;
        if (stopAt) {
          const end = stopAt.get(`${record.topic}:${record.partition}`);
          if (end === undefined || record.offset >= end) continue;
        }
        this.#tracker.received(record);
        this.#enqueue({ record });
      }
    } catch (error) {
      if (!this.#draining.signal.aborted) {
        this.#deps.log.error({ err: error, consumer: this.consumer.name }, 'consumer subscription failed');
      }
    }
  }

  #enqueue(work: Work): void {
    this.#buffered += 1;
    if (this.#buffered === 1) this.#updateBreakerPause();
    if (this.#buffered >= (this.#options.maxBuffered ?? 1000) && !this.#pausedFor.buffer) {
      this.#pausedFor.buffer = true;
      this.#applyPause();
    }
    const key = work.record.key;
    const queue = this.#parking.enter(key, work);
    if (!queue) return;
    const running = this.#drainKey(key, queue).finally(() => this.#running.delete(running));
    this.#running.add(running);
  }

  /** Handles a key's events one after the other: a later one never overtakes an earlier one. */
  async #drainKey(key: string, queue: Work[]): Promise<void> {
    try {
      while (queue.length > 0 && !this.#draining.signal.aborted) {
        const work = queue[0]!;
        let result = await this.#process(work);
        while (result === 'failed' && !this.#draining.signal.aborted) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          result = await this.#process(work);
        }
        queue.shift();
        this.#release();
        if (result !== 'finished') {
          if (work.redrive) await this.#deps.deadLetters.release(work.redrive.id).catch(() => undefined);
          break;
        }
        if (!work.redrive) this.#tracker.done(work.record);
      }
    } finally {
      for (const work of queue.splice(0)) {
        this.#release();
        if (work.redrive) await this.#deps.deadLetters.release(work.redrive.id).catch(() => undefined);
      }
      this.#parking.leave(key);
    }
  }

  #release(): void {
    this.#buffered -= 1;
    if (this.#buffered === 0) this.#updateBreakerPause();
    if (this.#pausedFor.buffer && this.#buffered <= (this.#options.maxBuffered ?? 1000) / 2) {
      this.#pausedFor.buffer = false;
      this.#applyPause();
    }
  }

  /**
   * Handles one record through the chain: 'finished' (applied, skipped or dead-lettered),
   * 'abandoned' (the worker is stopping) or 'failed' (outside the handler: the store failed while
   * dead-lettering, say; it is tried again).
   */
  async #process(work: Work): Promise<'finished' | 'abandoned' | 'failed'> {
    const { record, redrive } = work;
    const deps = this.#deps;
    const name = this.consumer.name;
    const started = performance.now();
    const outcome: Outcome = { suppressed: [], attempts: 0 };
    let event: CloudEvent | undefined;
    try {
      try {
        event = readEvent(fromRecord(record));
      } catch (error) {
        if (!this.#options.dryRun) {
          await deps.deadLetters.add({
            consumer: name,
            eventId: record.headers['ce_id'] ?? `${record.topic}:${record.partition}:${record.offset}`,
            eventType: record.headers['ce_type'] ?? 'unknown',
            record,
            reason: 'unreadable',
            attempts: 1,
            error: describe(error),
          });
        }
        outcome.deadLettered = 'unreadable';
        return 'finished';
      }
      if (!this.#types.has(event.type)) {
        outcome.skipped = 'type';
        return 'finished';
      }
      if (this.#options.until !== undefined && Date.parse(event.time) >= this.#options.until) {
        outcome.skipped = 'range';
        return 'finished';
      }
      if (!redrive && !this.#options.bypassInbox && (await deps.deadLetters.isHeld(name, event.id))) {
        outcome.skipped = 'held';
        return 'finished';
      }
      const inTransaction: ((trx: Transaction<Database>) => Promise<void>)[] = [];
      let committedIn: TransportRecord | undefined;
      const subscription = this.#subscription;
      if (redrive) {
        const id = redrive.id;
        inTransaction.push((trx) => deps.deadLetters.markRedriven(trx, id));
      } else if (subscription?.commitIn && !this.#options.dryRun) {
        const commitIn = subscription.commitIn.bind(subscription);
        inTransaction.push(async (trx) => {
          const point = this.#tracker.commitPointIfDone(record);
          if (point) {
            await commitIn(trx, point);
            committedIn = { ...record, ...point };
          }
        });
      }
      const ctx: RuntimeContext = {
        consumer: name,
        event,
        record,
        attempt: 1,
        signal: this.#abandon.signal,
        dryRun: this.#options.dryRun ?? false,
        log: deps.log,
        effect: () => Promise.reject(new Error('effect is given by the breaker middleware')),
        transaction: () => Promise.reject(new Error('transaction is given by the inbox middleware')),
        draining: this.#draining.signal,
        abandon: this.#abandon.signal,
        inTransaction,
        outcome,
      };
      await this.#chain(ctx);
      if (committedIn) this.#tracker.committed(committedIn);
      return 'finished';
    } catch (error) {
      if (error instanceof AbandonedError || this.#draining.signal.aborted) return 'abandoned';
      // A failure outside the handler (the store is down while dead-lettering): the record stays
      // unfinished, and its key waits; it is tried again.
      deps.log.error(
        { err: error, consumer: name, offset: String(record.offset) },
        'consumer could not finish an event',
      );
      return 'failed';
    } finally {
      const seconds = (performance.now() - started) / 1000;
      if (outcome.skipped !== undefined || outcome.deadLettered !== undefined || outcome.attempts > 0) {
        this.#finished(work, event, outcome, seconds);
      }
    }
  }

  #finished(work: Work, event: CloudEvent | undefined, outcome: Outcome, seconds: number): void {
    const metrics = this.#deps.metrics;
    const consumer = this.consumer.name;
    const label =
      outcome.deadLettered !== undefined
        ? 'dead_lettered'
        : outcome.skipped !== undefined
          ? 'skipped'
          : 'applied';
    metrics?.events.inc({ consumer, outcome: label });
    if (outcome.deadLettered !== undefined)
      metrics?.deadLettered.inc({ consumer, reason: outcome.deadLettered });
    if (label === 'applied' && event) {
      metrics?.handlerDuration.observe({ consumer }, seconds);
      const time = Date.parse(event.time);
      if (Number.isFinite(time)) {
        metrics?.endToEnd.observe({ consumer }, Math.max(0, (this.#deps.clock.now() - time) / 1000));
        if (this.#lastEventTime === undefined || time > this.#lastEventTime) this.#lastEventTime = time;
      }
    }
    this.#options.onFinished?.({ record: work.record, event, outcome, redrive: work.redrive !== undefined });
  }

  #revoked(partitions: readonly TopicPartition[]): void {
    this.#tracker.revoke(partitions);
    const gone = new Set(partitions.map((p) => `${p.topic}:${p.partition}`));
    const dropped = this.#parking.dropWaiting(
      (work) => !work.redrive && gone.has(`${work.record.topic}:${work.record.partition}`),
    );
    for (const _ of dropped) this.#release();
  }

  /**
   * Pauses the subscription while a provider's breaker is open and events are in hand: they wait
   * for the breaker and one of them probes. With none in hand, it fetches again: an open breaker
   * turns half-open only when called, so the next event is the probe (held up by no pause).
   */
  #updateBreakerPause(): void {
    const { breakers } = this.#deps;
    const open =
      this.#buffered > 0 && (this.consumer.providers ?? []).some((p) => breakers.state(p) !== 'closed');
    if (open !== this.#pausedFor.breaker) {
      this.#pausedFor.breaker = open;
      this.#deps.log.info(
        { consumer: this.consumer.name, breakers: breakers.states() },
        open
          ? 'consumer paused: a provider breaker is open'
          : 'consumer resumed: its breakers are closed, or no event of it waits on an open one (the next is the probe)',
      );
      this.#applyPause();
    }
  }

  #applyPause(): void {
    const want = this.#pausedFor.buffer || this.#pausedFor.breaker || this.#pausedFor.operator;
    if (want === this.#paused || !this.#subscription) return;
    this.#paused = want;
    if (want) this.#subscription.pause();
    else if (!this.#draining.signal.aborted) this.#subscription.resume();
  }

  /** Commits every partition's finished prefix; one flush at a time. */
  #flushCommits(): Promise<void> {
    const next = this.#committing.then(async () => {
      const subscription = this.#subscription;
      if (!subscription || this.#options.dryRun) return;
      for (const point of this.#tracker.due()) {
        try {
          await subscription.commit(point);
          this.#tracker.committed(point);
        } catch (error) {
          // The partition was taken away meanwhile; its new owner starts from the last commit.
          this.#deps.log.warn(
            { err: error, consumer: this.consumer.name, ...point, offset: String(point.offset) },
            'offset commit failed',
          );
        }
      }
    });
    this.#committing = next.catch(() => undefined);
    return this.#committing;
  }

  async #redrive(perSecond: number): Promise<void> {
    if (this.#draining.signal.aborted || this.#redriving) return;
    this.#redriving = true;
    try {
      const letters = await this.#deps.deadLetters.claimRedrives(this.consumer.name, this.#owner, perSecond);
      for (const letter of letters) {
        if (this.#draining.signal.aborted) {
          await this.#deps.deadLetters.release(letter.id);
          continue;
        }
        this.#deps.log.info(
          { consumer: this.consumer.name, eventId: letter.eventId },
          'redriving a dead letter',
        );
        this.#enqueue({
          record: {
            topic: letter.topic,
            partition: letter.partition,
            offset: letter.offset,
            key: letter.partitionKey,
            headers: letter.headers,
            value: letter.value,
            timestamp: letter.createdAt,
          },
          redrive: letter,
        });
      }
    } catch (error) {
      this.#deps.log.error({ err: error, consumer: this.consumer.name }, 'claiming redrives failed');
    } finally {
      this.#redriving = false;
    }
  }

  #redriving = false;

  /** True when nothing is in progress or waiting (tests and replays wait for it). */
  get idle(): boolean {
    return this.#buffered === 0;
  }

  async #boundedStep(step: string, work: Promise<unknown> | undefined): Promise<void> {
    if (await settledWithin(work, stopStepMs)) return;
    this.#deps.log.warn(
      { consumer: this.consumer.name },
      `stop: ${step} took over ${stopStepMs} ms; going on`,
    );
  }

  /**
   * Stops: takes no new record, abandons retries that are waiting, lets attempts in progress finish
   * for up to `graceMs` (then abandons them too: an abandoned event is not committed and comes
   * again), commits what finished, and leaves the group.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#draining.abort(new AbandonedError('the worker is stopping'));
    this.#subscription?.pause();
    clearInterval(this.#redriveTimer);
    const grace = setTimeout(
      () => this.#abandon.abort(new AbandonedError('the grace period is over')),
      graceMs,
    );
    try {
      await Promise.allSettled([...this.#running]);
    } finally {
      clearTimeout(grace);
    }
    clearInterval(this.#commitTimer);
    // Each step that waits on the event log is bounded: a broker that died with the group's
    // coordinator can hold a commit or a leave in retries, and a stop must end. What is not
    // committed then comes again (the inbox skips it).
    await this.#boundedStep('committing the finished offsets', this.#flushCommits());
    this.#unsubscribeBreakers?.();
    this.#untrack?.();
    await this.#boundedStep('closing the subscription', this.#subscription?.close());
    await this.#boundedStep('ending the read loop', this.#loop);
  }
}
