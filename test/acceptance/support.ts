import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { migrationSets } from '../../src/app/migrations.ts';
import { LocalKafka } from '../../src/local-kafka/cluster.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import { DeadLetters } from '../../src/runtime/dead-letters.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import { runtimeModes } from '../runtime/support.ts';
import { createTestDatabase, type TestDatabase } from '../support/dialects.ts';
import { freePort, type Proc, spawnPaystream } from '../support/processes.ts';
import { TestSmtpServer } from '../support/smtp-server.ts';

/**
 * The acceptance tests of the consumer runtime and email receipts (issue 13): paystream as real
 * processes (`paystream api`, `paystream relay`, `paystream worker receipts`) in one of its two
 * modes, the embedded one (SQLite + the embedded log) or the distributed one (PostgreSQL + a real
 * Kafka broker), sending receipts to a test SMTP server the test controls. What the tests assert
 * is read from the durable state (the store's tables) and from what the SMTP server received.
 */

export type Mode = 'embedded' | 'kafka';

/** Both modes when Java and PostgreSQL are there; PAYSTREAM_TEST_REQUIRE_KAFKA=1 makes that a must. */
export function modes(): Mode[] {
  return runtimeModes();
}

export const modeName = (mode: Mode) =>
  mode === 'embedded' ? 'embedded (SQLite + embedded log)' : 'PostgreSQL + Kafka';

const startTimeoutMs = 60_000;

// Tests read loosely-typed rows; asserting on them is the point.
// biome-ignore lint/suspicious/noExplicitAny: rows of arbitrary shape
export type Row = Record<string, any>;

export interface PaymentBody {
  customer_id: string;
  amount: number;
  currency: 'usd';
  payment_method: string;
  receipt_email?: string;
}

export interface PaymentAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a response body
  json: any;
  /** Wall time of the request, ms. */
  ms: number;
}

export interface Worker {
  proc: Proc;
  /** http://host:port/metrics */
  metricsUrl: string;
}

export interface WorldOptions {
  /** Kafka partitions of the payments topic (default 6). */
  partitions?: number;
}

export class ReceiptsWorld {
  readonly mode: Mode;
  readonly db: TestDatabase;
  readonly smtp: TestSmtpServer;
  readonly env: NodeJS.ProcessEnv;
  apiUrl = '';
  secret = '';
  readonly procs = new Set<Proc>();
  #pg: pg.Client | undefined;
  #store: Store | undefined;
  #payments = 0;

  private constructor(mode: Mode, db: TestDatabase, smtp: TestSmtpServer, env: NodeJS.ProcessEnv) {
    this.mode = mode;
    this.db = db;
    this.smtp = smtp;
    this.env = env;
  }

  /**
   * A fresh store of the mode's dialect, a Kafka broker of its own (kafka mode), the test SMTP
   * server, and `paystream api` + `paystream relay` running against them with a new API key.
   * Everything is stopped and removed when the test ends, whatever happened.
   */
  static async create(t: TestContext, mode: Mode, options: WorldOptions = {}): Promise<ReceiptsWorld> {
    const db = await createTestDatabase(mode === 'embedded' ? 'sqlite' : 'postgres');
    const cleanups: Array<() => Promise<void>> = [async () => db.drop()];
    // Registered first, so it runs even when setup below fails.
    let world: ReceiptsWorld | undefined;
    t.after(async () => {
      if (world) await world.#shutdown();
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    });
    let brokers: string | undefined;
    if (mode === 'kafka') {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'paystream-acceptance-kafka-'));
      const { kafka } = await LocalKafka.start({ nodes: 1, dir });
      cleanups.push(async () => {
        await kafka.stop();
        rmSync(dir, { recursive: true, force: true });
      });
      brokers = kafka.bootstrap;
    }
    const smtp = await TestSmtpServer.start();
    cleanups.push(() => smtp.close());

    const inherited: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (!name.startsWith('PAYSTREAM_') && !name.startsWith('NODE_TEST')) inherited[name] = value;
    }
    const env: NodeJS.ProcessEnv = {
      ...inherited,
      PAYSTREAM_DATA_DIR: db.dataDir,
      ...(db.databaseUrl ? { PAYSTREAM_DATABASE_URL: db.databaseUrl } : {}),
      ...(brokers
        ? { PAYSTREAM_KAFKA_BROKERS: brokers, PAYSTREAM_KAFKA_PARTITIONS: String(options.partitions ?? 6) }
        : {}),
      PAYSTREAM_SMTP_URL: smtp.url,
      PAYSTREAM_SMTP_SINK_PORT: '0',
      PAYSTREAM_WORKER_PORT: '0',
      // Retries wait at most 2 s (30 s in production), so a poison event's 10 attempts take
      // seconds, not minutes; the policy (attempts, backoff doubling, jitter) is the same.
      PAYSTREAM_RETRY_MAX_DELAY_MS: '2000',
      PAYSTREAM_RECONCILE_INTERVAL_MS: '3600000',
      PAYSTREAM_LOG_LEVEL: 'warn',
    };
    world = new ReceiptsWorld(mode, db, smtp, env);

    const keys = world.spawn('keys create', ['keys', 'create', '--name', 'acceptance']);
    const code = await keys.exited;
    world.procs.delete(keys);
    assert.equal(code, 0, `keys create failed: ${keys.stderr()}`);
    world.secret = keys.stdout().trim();
    assert.match(world.secret, /^sk_test_\S+$/);

    const [apiPort, gatewayPort] = [await freePort(), await freePort()];
    const api = world.spawn('api', ['api'], {
      PAYSTREAM_PORT: String(apiPort),
      PAYSTREAM_GATEWAY_PORT: String(gatewayPort),
    });
    world.apiUrl = (await api.waitFor('stdout', /API on (http:\/\/[^\s,]+)/, startTimeoutMs))[1]!;
    const relay = world.spawn('relay', ['relay']);
    await relay.waitFor('stdout', /paystream relay/, startTimeoutMs);
    return world;
  }

  /** A paystream child process with this world's environment (plus `env`); killed at the end. */
  spawn(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    const proc = spawnPaystream(name, args, { ...this.env, ...env });
    this.procs.add(proc);
    return proc;
  }

  /** Starts `paystream worker receipts` and waits until it serves its metrics. */
  async startWorker(name = 'worker', env: NodeJS.ProcessEnv = {}): Promise<Worker> {
    const proc = this.spawn(name, ['worker', 'receipts'], env);
    const url = (
      await proc.waitFor(
        'stdout',
        /paystream worker: receipts; metrics on (http:\/\/\S+\/metrics)/,
        startTimeoutMs,
      )
    )[1]!;
    return { proc, metricsUrl: url };
  }

  /** SIGKILL, and wait until it is gone. */
  async kill(proc: Proc): Promise<void> {
    await proc.kill();
    this.procs.delete(proc);
  }

  /** POST /v1/payments through the API process. */
  async pay(
    body: PaymentBody,
    key = `acc-${process.pid}-${++this.#payments}-${Date.now()}`,
  ): Promise<PaymentAnswer> {
    const started = performance.now();
    const response = await fetch(`${this.apiUrl}/v1/payments`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${this.secret}`,
        'idempotency-key': key,
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    });
    const json = await response.json();
    return { status: response.status, json, ms: performance.now() - started };
  }

  /** One read of the store: SQLite read-only, or this world's PostgreSQL connection. */
  async rows(sql: string, params: unknown[] = []): Promise<Row[]> {
    if (this.db.databaseUrl === undefined) {
      const sqlite = new DatabaseSync(this.db.sqlitePath, { readOnly: true });
      try {
        sqlite.exec('PRAGMA busy_timeout = 5000');
        return sqlite
          .prepare(sql)
          .all(...(params as string[]))
          .map((row) => ({ ...row }));
      } finally {
        sqlite.close();
      }
    }
    if (!this.#pg) {
      this.#pg = new pg.Client({ connectionString: this.db.databaseUrl });
      await this.#pg.connect();
    }
    let n = 0;
    const result = await this.#pg.query(
      sql.replace(/\?/g, () => `$${++n}`),
      params,
    );
    return result.rows as Row[];
  }

  async count(sql: string, params: unknown[] = []): Promise<number> {
    return Number((await this.rows(sql, params))[0]!['n']);
  }

  /** The receipts service's table. */
  receipts(): Promise<Row[]> {
    return this.rows('SELECT event_id, payment_id, recipient, status, message_id FROM receipts');
  }

  receiptCount(): Promise<number> {
    return this.count('SELECT count(*) AS n FROM receipts');
  }

  deadLetters(): Promise<Row[]> {
    return this.rows(
      'SELECT id, consumer, event_id, event_type, headers, reason, attempts, error, status, redrives FROM runtime_dead_letters',
    );
  }

  /** The store through paystream's own code (for DeadLetters), opened once. */
  store(): Store {
    this.#store ??= openStore(
      { databaseUrl: this.db.databaseUrl, sqlitePath: this.db.sqlitePath, databasePoolMax: 2 },
      migrationSets,
    );
    return this.#store;
  }

  deadLetterStore(): DeadLetters {
    return new DeadLetters(this.store(), new IdGenerator(), systemClock);
  }

  async #shutdown(): Promise<void> {
    for (const proc of this.procs) await proc.kill();
    this.procs.clear();
    await this.#pg?.end().catch(() => undefined);
    await this.#store?.close().catch(() => undefined);
  }
}

/** The Message-ID the receipts service gives an event's receipt. */
export const messageIdOf = (eventId: string) => `<${eventId}@receipts.paystream>`;

/** Scrapes a worker's /metrics; the value of `name{labels}`, or undefined. */
export async function metric(url: string, name: string, labels: string): Promise<number | undefined> {
  const text = await (await fetch(url)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** Polls `check` every 100 ms until it holds; fails with `what` and the last state after `timeoutMs`. */
export async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  state: () => Promise<string> | string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms; ${await state()}`);
    await sleep(100);
  }
}

/**
 * Waits until `value()` reaches `target`; fails when it has not moved for `stallMs` (something is
 * lost or stuck: no point waiting out the whole `timeoutMs`) or after `timeoutMs`.
 */
export async function untilReached(
  what: string,
  value: () => Promise<number>,
  target: number,
  options: { stallMs: number; timeoutMs: number },
): Promise<void> {
  const started = Date.now();
  let last = await value();
  let movedAt = Date.now();
  while (last < target) {
    await sleep(200);
    const now = await value();
    if (now !== last) movedAt = Date.now();
    last = now;
    if (Date.now() - movedAt > options.stallMs)
      assert.fail(`${what}: stuck at ${last} of ${target} for ${options.stallMs} ms`);
    if (Date.now() - started > options.timeoutMs)
      assert.fail(`${what}: ${last} of ${target} after ${options.timeoutMs} ms`);
  }
}

/** Runs `work` over `items` with `clients` concurrent workers. */
export async function pool<T>(
  items: readonly T[],
  clients: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i]!, i);
      }
    }),
  );
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
