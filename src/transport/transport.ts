import type { Transaction } from 'kysely';
import type { Database } from '../store/database.ts';

/**
 * The Transport port: how events leave the payment core and reach every consumer group. Small on
 * purpose, like Watermill's Publisher/Subscriber: publish a batch, subscribe as a group, commit
 * explicitly after processing, pause/resume, seek, lag, close. Two engines implement it: Apache
 * Kafka (`kafka/`) and the embedded log in the SQLite store (`embedded/`); one contract suite
 * holds both to it. Only `app/` chooses an engine: every other folder sees this file alone.
 *
 * Delivery is at least once, in order per partition (and so per key: a key always maps to one
 * partition). A record is redelivered until its group commits an offset past it, so consumers
 * must be idempotent (the runtime's inbox makes them so).
 */

/** A record to publish. `value` is the event's data (CloudEvents binary mode: attributes in headers). */
export interface OutgoingRecord {
  /** The partition key: records with one key keep their order. */
  key: string;
  /** `ce_id`, `ce_type`, `ce_source`, `ce_specversion`, `ce_time`, `ce_subject`, `content-type`, ... */
  headers: Readonly<Record<string, string>>;
  value: string;
}

/** A record as a consumer receives it. */
export interface TransportRecord extends OutgoingRecord {
  topic: string;
  partition: number;
  /** Position in its partition; commits are cumulative per partition. */
  offset: bigint;
  /** When the record was appended to the log, epoch milliseconds. */
  timestamp: number;
}

/** Where a group starts when it has no committed offset, or where `seek` moves it. */
export type Position = 'earliest' | 'latest' | { offset: bigint } | { timestamp: number };

export interface TopicSpec {
  name: string;
  /** Kafka: partitions of the topic. The embedded log has one partition per topic (commit order). */
  partitions: number;
  /** Kafka: copies of each partition, and how many must have a record before it is acknowledged. */
  replicationFactor: number;
  minInsyncReplicas: number;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface SubscribeOptions {
  /** The consumer group: each group gets every record; members of one group share them. */
  group: string;
  topics: readonly string[];
  /** Where a group that has never committed starts. */
  startFrom: 'earliest' | 'latest';
  /**
   * Told when partitions are taken from this member (a rebalance, or a standby taking over): any
   * record of them not yet committed will be delivered to another member, so in-memory state about
   * them must be dropped.
   */
  onRevoked?: (partitions: readonly TopicPartition[]) => void;
}

/**
 * One member of a consumer group. Iterate it for records; commit what is processed. A member may
 * be assigned nothing (a standby) and still iterate: records arrive once it is given partitions.
 */
export interface Subscription extends AsyncIterable<TransportRecord> {
  /**
   * Records that everything in `record`'s partition up to and including it is processed. Never
   * commit past a record that is not: a crash then redelivers from the first uncommitted one.
   */
  commit(record: Pick<TransportRecord, 'topic' | 'partition' | 'offset'>): Promise<void>;
  /**
   * `commit`, inside the caller's own store transaction: the offset moves exactly when the
   * consumer's writes commit. Present when `capabilities.offsetsInStore`.
   */
  commitIn?(
    trx: Transaction<Database>,
    record: Pick<TransportRecord, 'topic' | 'partition' | 'offset'>,
  ): Promise<void>;
  /** Stops fetching (records already handed out stay valid) until `resume()`: for backpressure and open breakers. */
  pause(): void;
  resume(): void;
  /** The partitions this member holds now. */
  assignments(): readonly TopicPartition[];
  /** Leaves the group. Uncommitted records are redelivered to the members that remain. */
  close(): Promise<void>;
}

export interface PartitionLag extends TopicPartition {
  /** The group's next offset to read in this partition, or null when it has never committed. */
  committed: bigint | null;
  /** The offset the next appended record will get. */
  end: bigint;
  /** `end - committed` (or the whole retained partition when nothing is committed). */
  lag: bigint;
}

/** What an engine truly lacks; the contract suite skips only what a flag says is missing. */
export interface TransportCapabilities {
  /** Several members of one group each hold some partitions at once (Kafka); else one active, others standby. */
  partitionsShared: boolean;
  /**
   * The group's offsets live in the application's own database, so a consumer can commit its
   * offset in the same transaction as its own writes (the embedded log).
   */
  offsetsInStore: boolean;
}

export interface Transport {
  readonly engine: 'kafka' | 'embedded';
  readonly capabilities: TransportCapabilities;
  /** Creates missing topics with these settings (an existing topic is left as it is). */
  ensureTopics(topics: readonly TopicSpec[]): Promise<void>;
  /** Appends the records durably (Kafka: acks=all, idempotent producer) before resolving. */
  publish(topic: string, records: readonly OutgoingRecord[]): Promise<void>;
  /**
   * `publish`, inside the caller's store transaction: the records are appended exactly when the
   * caller's writes commit. Present when the log lives in the application's store (the embedded log).
   */
  publishIn?(trx: Transaction<Database>, topic: string, records: readonly OutgoingRecord[]): Promise<void>;
  /** With publishIn: the caller's transaction that appended has committed; wakes the consumers. */
  committed?(): void;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** Moves a group that has no active member to a position, for replays and backfills. */
  seek(group: string, topic: string, to: Position): Promise<void>;
  lag(group: string, topic: string): Promise<PartitionLag[]>;
  close(): Promise<void>;
}
