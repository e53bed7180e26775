/**
 * The systems under test, each started as real processes and driven over HTTP with the same
 * payment body: paystream (`paystream start`, embedded; or on PostgreSQL + Kafka) and the
 * synchronous baseline (baseline-server.ts). Each can say, from its own database, how many
 * payments succeeded and what became of their receipts.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { Pool } from 'undici';
import { LocalKafka } from '../../src/local-kafka/cluster.ts';
import { createDatabase, dropDatabase, Vacuumer, withDatabase } from '../api/postgres.ts';
import { type Child, childEnv, createKey, spawnUntil } from '../api/processes.ts';
import { runId } from '../api/run-id.ts';

export type SystemName = 'paystream-embedded' | 'paystream-kafka' | 'baseline';

/** What a system's own database says. */
export interface SystemCounts {
  /** Payments charged successfully (status succeeded), all with a receipt_email. */
  succeeded: number;
  /** paystream: receipts recorded as sent by the consumer; baseline: rows marked sent. */
  receiptsRecorded: number;
  /** paystream: receipts events in the dead letters (undelivered until redriven). */
  deadLetters: number;
  deadLetterReasons: Record<string, number>;
}

export interface RunningSystem {
  name: SystemName;
  description: string;
  /** One payment whose receipt goes to `email`: null when it succeeded, else the error's kind. */
  pay(seq: number, email: string): Promise<string | null>;
  counts(): Promise<SystemCounts>;
  /** paystream: `paystream dead-letters redrive --consumer receipts`, as an operator would; prints its answer. */
  redriveReceipts?(): string;
  /** Processes to name in the report (pid by label). */
  pids: Record<string, number>;
  /** Warnings and errors the processes printed (first lines). */
  output(): string[];
  stop(): Promise<void>;
}

const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'bin', 'paystream.ts');

function paymentBody(seq: number, email: string): string {
  return JSON.stringify({
    customer_id: `cus_bench_${seq % 200}`,
    amount: 100 + (seq % 9900),
    currency: 'usd',
    payment_method: 'pm_card_visa',
    description: 'decoupling bench payment',
    receipt_email: email,
  });
}

function payer(url: string, connections: number, headers: Record<string, string>, keyPrefix: string) {
  const pool = new Pool(url, { connections, pipelining: 1, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const pay = async (seq: number, email: string): Promise<string | null> => {
    const res = await pool.request({
      method: 'POST',
      path: '/v1/payments',
      headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': `${keyPrefix}-${seq}` },
      body: paymentBody(seq, email),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      let code = '';
      try {
        code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '';
      } catch {
        code = text.slice(0, 60);
      }
      return `HTTP ${res.statusCode} ${code}`.trim();
    }
    const status = (JSON.parse(text) as { status?: string }).status;
    return status === 'succeeded' ? null : `200 with status ${status}`;
  };
  return { pay, close: () => pool.close() };
}

function tail(children: Child[]): string[] {
  return children
    .flatMap((c) => c.output)
    .join('')
    .split('\n')
    .filter(Boolean);
}

const countsSql = {
  succeeded: `select count(*) as n from payments where status = 'succeeded' and receipt_email is not null`,
  receipts: `select count(*) as n from receipts where status = 'sent'`,
  deadLetters: `select reason, count(*) as n from runtime_dead_letters where consumer = 'receipts' group by reason`,
};

/** paystream, embedded: `paystream start` on a fresh SQLite directory, the SMTP URL the bench's server. */
export async function startPaystreamEmbedded(smtpUrl: string, clients: number): Promise<RunningSystem> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paystream-decoupling-embedded-'));
  return startPaystream(
    'paystream-embedded',
    smtpUrl,
    clients,
    { PAYSTREAM_DATA_DIR: dataDir },
    {
      description:
        '`paystream start`, embedded mode (SQLite, the embedded event log, the sandbox gateway on its thread, ' +
        'the relay and every consumer in the one process)',
      counts: async () => {
        const db = new DatabaseSync(path.join(dataDir, 'paystream.sqlite'), { readOnly: true });
        try {
          const n = (sql: string) => Number((db.prepare(sql).get() as { n: number }).n);
          const reasons = db.prepare(countsSql.deadLetters).all() as Array<{ reason: string; n: number }>;
          return {
            succeeded: n(countsSql.succeeded),
            receiptsRecorded: n(countsSql.receipts),
            deadLetters: reasons.reduce((a, r) => a + Number(r.n), 0),
            deadLetterReasons: Object.fromEntries(reasons.map((r) => [r.reason, Number(r.n)])),
          };
        } finally {
          db.close();
        }
      },
      cleanup: async () => rmSync(dataDir, { recursive: true, force: true }),
    },
  );
}

/** paystream on PostgreSQL + a local one-broker Kafka (6 partitions): `paystream start`. */
export async function startPaystreamKafka(
  smtpUrl: string,
  clients: number,
  pgAdminUrl: string,
): Promise<RunningSystem> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paystream-decoupling-kafka-'));
  const { kafka } = await LocalKafka.start({ nodes: 1, dir: path.join(dataDir, 'kafka') });
  const dbName = await createDatabase(pgAdminUrl, '_decoupling');
  const databaseUrl = withDatabase(pgAdminUrl, dbName);
  let vacuumer: Vacuumer | undefined;
  const query = async (sql: string) => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return (await client.query(sql)).rows as Array<Record<string, unknown>>;
    } finally {
      await client.end();
    }
  };
  const system = await startPaystream(
    'paystream-kafka',
    smtpUrl,
    clients,
    {
      PAYSTREAM_DATA_DIR: dataDir,
      PAYSTREAM_DATABASE_URL: databaseUrl,
      PAYSTREAM_KAFKA_BROKERS: kafka.bootstrap,
      PAYSTREAM_KAFKA_PARTITIONS: '6',
    },
    {
      description:
        '`paystream start` on PostgreSQL + a local one-broker Kafka (topic of 6 partitions); the sandbox gateway ' +
        'on its thread, the relay and every consumer in the one process',
      counts: async () => {
        const n = async (sql: string) => Number((await query(sql))[0]!['n']);
        const reasons = (await query(countsSql.deadLetters)) as Array<{ reason: string; n: string }>;
        return {
          succeeded: await n(countsSql.succeeded),
          receiptsRecorded: await n(countsSql.receipts),
          deadLetters: reasons.reduce((a, r) => a + Number(r.n), 0),
          deadLetterReasons: Object.fromEntries(reasons.map((r) => [r.reason, Number(r.n)])),
        };
      },
      cleanup: async () => {
        await vacuumer?.stop();
        await kafka.stop();
        await dropDatabase(pgAdminUrl, dbName);
        rmSync(dataDir, { recursive: true, force: true });
      },
    },
  );
  // autovacuum is off on the reference machine: the bench vacuums the tables that take inserts and deletes.
  vacuumer = new Vacuumer(databaseUrl);
  await vacuumer.connect();
  await vacuumer.once();
  vacuumer.start(5000);
  return system;
}

async function startPaystream(
  name: SystemName,
  smtpUrl: string,
  clients: number,
  extra: Record<string, string>,
  how: { description: string; counts: () => Promise<SystemCounts>; cleanup: () => Promise<void> },
): Promise<RunningSystem> {
  const env = childEnv({
    PAYSTREAM_LOG_LEVEL: 'warn',
    PAYSTREAM_PORT: '0',
    PAYSTREAM_GATEWAY_PORT: '0',
    PAYSTREAM_SMTP_URL: smtpUrl,
    PAYSTREAM_SMTP_SINK_PORT: '0',
    ...extra,
  });
  let child: Child | undefined;
  try {
    const secret = createKey(env);
    const started = await spawnUntil([cli, 'start'], env, /API on (http:\/\/[^\s,]+)/, `paystream (${name})`);
    child = started.child;
    const { pay, close } = payer(
      started.match[1]!,
      clients,
      { authorization: `Bearer ${secret}` },
      `dc-${runId}`,
    );
    const c = child;
    return {
      name,
      description: how.description,
      pay,
      counts: how.counts,
      redriveReceipts: () =>
        execFileSync(process.execPath, [cli, 'dead-letters', 'redrive', '--consumer', 'receipts'], {
          cwd: root,
          env,
          encoding: 'utf8',
        }).trim(),
      pids: { 'paystream start': c.pid },
      output: () => tail([c]),
      async stop() {
        await close();
        await c.stop();
        await how.cleanup();
      },
    };
  } catch (error) {
    await child?.stop();
    await how.cleanup();
    throw error;
  }
}

/** The synchronous baseline (baseline-server.ts) on a fresh directory. */
export async function startBaseline(smtpUrl: string, clients: number): Promise<RunningSystem> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paystream-decoupling-baseline-'));
  const { child, match } = await spawnUntil(
    [path.join(import.meta.dirname, 'baseline-server.ts')],
    childEnv({
      BENCH_SMTP_URL: smtpUrl,
      BENCH_DATA_DIR: dataDir,
      BENCH_SMTP_CONNECTIONS: String(clients),
    }),
    /baseline on (http:\/\/\S+)/,
    'synchronous baseline',
  );
  const { pay, close } = payer(match[1]!, clients, {}, `dc-${runId}`);
  return {
    name: 'baseline',
    description:
      'bench/decoupling/baseline-server.ts: charge (the same sandbox gateway, on its thread), write the row to ' +
      `SQLite (WAL, synchronous=FULL), send the receipt with nodemailer (a pool of ${clients} connections, one per ` +
      'client) inside the request, answer after the send; a failed send answers 502',
    pay,
    counts: async () => {
      const db = new DatabaseSync(path.join(dataDir, 'baseline.sqlite'), { readOnly: true });
      try {
        const n = (sql: string) => Number((db.prepare(sql).get() as { n: number }).n);
        return {
          succeeded: n(`select count(*) as n from payments where status = 'succeeded'`),
          receiptsRecorded: n('select count(*) as n from payments where receipt_sent = 1'),
          deadLetters: 0,
          deadLetterReasons: {},
        };
      } finally {
        db.close();
      }
    },
    pids: { 'baseline server': child.pid },
    output: () => tail([child]),
    async stop() {
      await close();
      await child.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
