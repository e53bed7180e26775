import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Admin,
  Consumer,
  type Message,
  type MessagesStream,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
import { settledWithin } from '../../platform/deadline.ts';
import type {
  OutgoingRecord,
  PartitionLag,
  Position,
  SubscribeOptions,
  Subscription,
  TopicPartition,
  TopicSpec,
  Transport,
  TransportCapabilities,
  TransportRecord,
} from '../transport.ts';

export interface KafkaTransportOptions {
  /** `host:port` of one or more brokers. */
  brokers: readonly string[];
  clientId?: string;
  /** How long a member may go silent before the group gives its partitions to others. */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Tries of a failed request (a broker down, a leader moving) before it fails; spaced by retryDelayMs. */
  retries?: number;
  retryDelayMs?: number;
}

type StringMessage = Message<string, string, string, string>;

/** Times in a row a failed message stream is started again before the failure is the caller's. */
const streamRestartsMax = 10;
const streamRestartDelayMs = 1000;

/** The most a close waits for each client it closes (a dead broker can hold a client in retries). */
const closeStepMs = 10_000;

/** Kafka's "the topic already exists": ensureTopics leaves an existing topic as it is. */
const topicAlreadyExists = 36;

/**
 * The Transport port over Apache Kafka, through @platformatic/kafka. The producer is idempotent with
 * acks=all, so a publish resolves once every in-sync replica has the records and a retried batch
 * is not duplicated by the broker; the key (the partition key) picks the partition, so one
 * customer's events stay in order. Consumers never autocommit: a member commits after processing.
 */
export class KafkaTransport implements Transport {
  readonly engine = 'kafka' as const;
  readonly capabilities: TransportCapabilities = { partitionsShared: true, offsetsInStore: false };
  readonly #options: KafkaTransportOptions;
  readonly #clientId: string;
  #producer: Producer<string, string, string, string> | undefined;
  #admin: Admin | undefined;
  readonly #subscriptions = new Set<KafkaSubscription>();

  constructor(options: KafkaTransportOptions) {
    if (options.brokers.length === 0) throw new Error('the Kafka transport needs at least one broker');
    this.#options = options;
    this.#clientId = options.clientId ?? `paystream-${process.pid}`;
  }

  get #bootstrap(): string[] {
    return [...this.#options.brokers];
  }

  /** Connection settings every client shares: enough retries to ride out a broker's failover. */
  get #client() {
    return {
      bootstrapBrokers: this.#bootstrap,
      retries: this.#options.retries ?? 20,
      retryDelay: this.#options.retryDelayMs ?? 500,
    };
  }

  #adminClient(): Admin {
    this.#admin ??= new Admin({ clientId: `${this.#clientId}-admin`, ...this.#client });
    return this.#admin;
  }

  async ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    const admin = this.#adminClient();
    for (const topic of topics) {
      try {
        await admin.createTopics({
          topics: [topic.name],
          partitions: topic.partitions,
          replicas: topic.replicationFactor,
          configs: [{ name: 'min.insync.replicas', value: String(topic.minInsyncReplicas) }],
        });
      } catch (error) {
        if (!hasErrorCode(error, topicAlreadyExists)) throw error;
      }
    }
    // A topic is usable once every partition has a leader.
    for (let attempt = 0; ; attempt += 1) {
      const metadata = await admin.metadata({ topics: topics.map((t) => t.name) });
      const ready = topics.every((t) => {
        const found = metadata.topics.get(t.name);
        return found?.partitions.every((p) => p.leader >= 0) ?? false;
      });
      if (ready || attempt >= 50) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async publish(topic: string, records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.#producer ??= new Producer({
      clientId: `${this.#clientId}-producer`,
      ...this.#client,
      serializers: stringSerializers,
      idempotent: true,
      acks: -1,
    });
    await this.#producer.send({
      messages: records.map((r) => ({ topic, key: r.key, value: r.value, headers: { ...r.headers } })),
    });
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const consumer = new Consumer({
      clientId: `${this.#clientId}-${options.group}-${randomUUID().slice(0, 8)}`,
      groupId: options.group,
      ...this.#client,
      deserializers: stringDeserializers,
      autocommit: false,
      sessionTimeout: this.#options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: this.#options.heartbeatIntervalMs ?? 1000,
    });
    const consume = async () =>
      (await consumer.consume({
        topics: [...options.topics],
        autocommit: false,
        mode: 'committed',
        fallbackMode: options.startFrom,
        sessionTimeout: this.#options.sessionTimeoutMs ?? 10_000,
        heartbeatInterval: this.#options.heartbeatIntervalMs ?? 1000,
      })) as MessagesStream<string, string, string, string>;
    const subscription = new KafkaSubscription(consumer, await consume(), consume, options, () =>
      this.#subscriptions.delete(subscription),
    );
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async #partitions(topic: string): Promise<number[]> {
    const metadata = await this.#adminClient().metadata({ topics: [topic] });
    const found = metadata.topics.get(topic);
    if (!found) throw new Error(`no topic ${topic}`);
    return found.partitions.map((_, i) => i);
  }

  /** The offsets of a topic's partitions at a timestamp (-2: earliest, -1: latest). */
  async #offsetsAt(topic: string, timestamp: bigint): Promise<Map<number, bigint>> {
    const partitions = await this.#partitions(topic);
    const listed = await this.#adminClient().listOffsets({
      topics: [
        { name: topic, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp })) },
      ],
    });
    const result = new Map<number, bigint>();
    for (const t of listed) for (const p of t.partitions) result.set(p.partitionIndex, p.offset);
    // A timestamp past the last record has no offset (-1): the group starts at the end.
    if (timestamp >= 0n) {
      const ends = await this.#offsetsAt(topic, -1n);
      for (const [partition, offset] of result)
        if (offset < 0n) result.set(partition, ends.get(partition) ?? 0n);
    }
    return result;
  }

  async seek(group: string, topic: string, to: Position): Promise<void> {
    let offsets: Map<number, bigint>;
    if (to === 'earliest') offsets = await this.#offsetsAt(topic, -2n);
    else if (to === 'latest') offsets = await this.#offsetsAt(topic, -1n);
    else if ('timestamp' in to) offsets = await this.#offsetsAt(topic, BigInt(to.timestamp));
    else {
      // One offset for every partition, kept within what each partition holds.
      const [starts, ends] = [await this.#offsetsAt(topic, -2n), await this.#offsetsAt(topic, -1n)];
      offsets = new Map();
      for (const [partition, start] of starts) {
        const end = ends.get(partition) ?? start;
        // biome-ignore lint/complexity/useMathMinMax: offsets are bigints, which Math.min/max refuse
        offsets.set(partition, to.offset < start ? start : to.offset > end ? end : to.offset);
      }
    }
    await this.#adminClient().alterConsumerGroupOffsets({
      groupId: group,
      topics: [
        { name: topic, partitionOffsets: [...offsets].map(([partition, offset]) => ({ partition, offset })) },
      ],
    });
  }

  async lag(group: string, topic: string): Promise<PartitionLag[]> {
    const [starts, ends] = [await this.#offsetsAt(topic, -2n), await this.#offsetsAt(topic, -1n)];
    const groups = await this.#adminClient().listConsumerGroupOffsets({
      groups: [{ groupId: group, topics: [{ name: topic, partitionIndexes: [...ends.keys()] }] }],
    });
    const committed = new Map<number, bigint>();
    for (const g of groups) {
      for (const t of g.topics) {
        for (const p of t.partitions)
          if (p.committedOffset >= 0n) committed.set(p.partitionIndex, p.committedOffset);
      }
    }
    return [...ends].map(([partition, end]) => {
      const at = committed.get(partition) ?? null;
      const from = at ?? starts.get(partition) ?? end;
      return { topic, partition, committed: at, end, lag: end > from ? end - from : 0n };
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((s) => s.close()));
    await settledWithin(this.#producer?.close(), closeStepMs);
    await settledWithin(this.#admin?.close(), closeStepMs);
  }
}

function hasErrorCode(error: unknown, code: number): boolean {
  const seen = new Set<unknown>();
  const visit = (e: unknown): boolean => {
    if (e === null || typeof e !== 'object' || seen.has(e)) return false;
    seen.add(e);
    const err = e as { apiCode?: unknown; errors?: unknown[]; cause?: unknown };
    if (err.apiCode === code) return true;
    return (err.errors ?? []).some(visit) || visit(err.cause);
  };
  return visit(error);
}

/** One member of a consumer group on Kafka; the group shares the topics' partitions among its members. */
class KafkaSubscription implements Subscription {
  readonly #consumer: Consumer<string, string, string, string>;
  #stream: MessagesStream<string, string, string, string>;
  readonly #consume: () => Promise<MessagesStream<string, string, string, string>>;
  readonly #onClosed: () => void;
  /** Handed out and not yet committed, per topic-partition, in offset order: commit goes through them. */
  readonly #pending = new Map<string, StringMessage[]>();
  #closed = false;
  /** Resolved by close(): ends a restart of the stream in progress. */
  readonly #closing = Promise.withResolvers<void>();
  /** Set while paused: the iterator hands out nothing until it resolves. */
  #resumed: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(
    consumer: Consumer<string, string, string, string>,
    stream: MessagesStream<string, string, string, string>,
    consume: () => Promise<MessagesStream<string, string, string, string>>,
    options: SubscribeOptions,
    onClosed: () => void,
  ) {
    this.#consumer = consumer;
    this.#stream = stream;
    this.#consume = consume;
    this.#onClosed = onClosed;
    let held = this.assignments();
    consumer.on('consumer:group:join', () => {
      const now = this.assignments();
      const revoked = held.filter(
        (h) => !now.some((n) => n.topic === h.topic && n.partition === h.partition),
      );
      held = now;
      for (const r of revoked) this.#pending.delete(`${r.topic}:${r.partition}`);
      if (revoked.length > 0) options.onRevoked?.(revoked);
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TransportRecord> {
    for (let failures = 0; !this.#closed; ) {
      try {
        for await (const message of this.#stream as AsyncIterable<StringMessage>) {
          failures = 0;
          // A Readable's iterator keeps reading while the stream is paused: hold the record here.
          while (this.#resumed && !this.#closed) await this.#resumed.promise;
          if (this.#closed) return;
          yield this.#handOut(message);
        }
        return;
      } catch (error) {
        if (this.#closed) return;
        // The stream gave up (a broker died and its retries ran out before the leaders moved):
        // consume again from the group's committed offsets. What was handed out and not committed
        // comes again: at least once, as always.
        failures += 1;
        if (failures > streamRestartsMax) throw error;
        this.#pending.clear();
        await this.#stream.close().catch(() => undefined);
        // close() may come at any point of the restart: it must end the iteration, not leave a
        // new stream running behind it (a runner's stop waits for its iteration to end).
        await Promise.race([sleep(streamRestartDelayMs), this.#closing.promise]);
        if (this.#closed) return;
        const next = this.#consume();
        const stream = await Promise.race([next, this.#closing.promise.then(() => undefined)]);
        if (stream === undefined || this.#closed) {
          void next.then((s) => s.close()).catch(() => undefined);
          return;
        }
        this.#stream = stream;
        if (this.#resumed) this.#stream.pause();
      }
    }
  }

  #handOut(message: StringMessage): TransportRecord {
    const key = `${message.topic}:${message.partition}`;
    const pending = this.#pending.get(key) ?? [];
    pending.push(message);
    this.#pending.set(key, pending);
    const headers: Record<string, string> = {};
    for (const [name, value] of message.headers) headers[String(name)] = String(value);
    return {
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      key: message.key ?? '',
      headers,
      value: message.value ?? '',
      timestamp: Number(message.timestamp),
    };
  }

  async commit(record: Pick<TransportRecord, 'topic' | 'partition' | 'offset'>): Promise<void> {
    const key = `${record.topic}:${record.partition}`;
    const pending = this.#pending.get(key) ?? [];
    const message = pending.find((m) => m.offset === record.offset);
    if (!message) throw new Error(`no uncommitted record at ${key}@${record.offset} on this member`);
    await message.commit();
    this.#pending.set(
      key,
      pending.filter((m) => m.offset > record.offset),
    );
  }

  pause(): void {
    if (this.#resumed) return;
    this.#resumed = Promise.withResolvers<void>();
    this.#stream.pause();
  }

  resume(): void {
    const resumed = this.#resumed;
    this.#resumed = undefined;
    this.#stream.resume();
    resumed?.resolve();
  }

  assignments(): readonly TopicPartition[] {
    return (this.#consumer.assignments ?? []).flatMap((a) =>
      a.partitions.map((partition) => ({ topic: a.topic, partition })),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.resolve();
    this.#resumed?.resolve();
    // Bounded: with a broker dead, the client can hold a fetch or its leave of the group in
    // retries; the member's offsets are committed already, and the group notices it is gone.
    await settledWithin(this.#stream.close(), closeStepMs);
    await settledWithin(this.#consumer.close(true), closeStepMs);
    this.#onClosed();
  }
}
