/**
 * The event pipeline's benchmark: outbox -> relay -> event log -> a subscriber. Writes
 * bench/results/relay-<date>.md and .json. Three measurements, each in one run so that ratios are
 * taken on the same machine in the same minutes:
 *
 * 1. Relay throughput (PostgreSQL + Kafka): an outbox pre-filled with `--records` payment events is
 *    drained by the OutboxRelay into a local Kafka broker (acks=all, idempotent producer), beside
 *    Kafka's own org.apache.kafka.tools.ProducerPerformance from the same jars sending the same
 *    number of records of the same value size, acks=all, to a topic of the same partitions.
 * 2. End-to-end latency at `--rate` payments/s (open loop), in each mode: from the event's time
 *    (set just before the payment's transaction commits, so the figure is an upper bound) to the
 *    moment a subscriber receives it through the Transport (on a thread of this process, apart from
 *    the load generator's event loop: bench/relay/subscriber.ts).
 * 3. The API's payments/s with the relay and one subscriber running (`paystream start --no-consumers`), beside the
 *    API alone (`paystream api`, no relay), closed loop, alternating, `--rounds` each.
 *
 *   node bench/relay.ts [--modes embedded,kafka] [--phases throughput,latency,overhead] [--records 30000] [--rate 1000[,400]] [--seconds 10]
 *                       [--warmup 3] [--warm-broker 60] [--rounds 2] [--throughput-rounds 5] [--clients 16] [--pg-url postgres://postgres@127.0.0.1:5432/postgres]
 *                       [--out bench/results] [--cpu-prof DIR] [--set PAYSTREAM_NAME=VALUE ...]
 *
 * --cpu-prof DIR writes V8 CPU profiles of every paystream process (a folder each, a file per thread) to DIR (read them with
 * bench/cpuprof-summary.ts): a diagnostic, it slows the processes down.
 *
 * Needs Java 17+ and Maven for the local Kafka (jars cached by `paystream kafka fetch`), and
 * PostgreSQL at --pg-url for the kafka mode. PostgreSQL's autovacuum is off on the reference machine:
 * the tables are VACUUM (ANALYZE)d before each measurement and every 5 s during the load phases.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { coreTopics } from '../src/app/event-log.ts';
import { OutboxWriter } from '../src/events/outbox.ts';
import { LocalKafka } from '../src/local-kafka/cluster.ts';
import { kafkaVersion } from '../src/local-kafka/version.ts';
import { systemClock } from '../src/platform/clock.ts';
import { loadConfig } from '../src/platform/config.ts';
import { IdGenerator } from '../src/platform/ids.ts';
import { OutboxRelay } from '../src/relay/outbox-relay.ts';
import { KafkaTransport } from '../src/transport/kafka/kafka-transport.ts';
import { type CpuSnapshot, type CpuUsage, cpuSnapshot, cpuUsage } from './api/cpu.ts';
import { drive, type Op } from './api/load.ts';
import {
  adminQuery,
  benchTables,
  createDatabase,
  dropDatabase,
  Vacuumer,
  withDatabase,
} from './api/postgres.ts';
import { type Child, childEnv, createKey, spawnUntil } from './api/processes.ts';
import { runId } from './api/run-id.ts';
import { type LatencySummary, summarize } from './api/stats.ts';
import { openSiteStore, openSiteTransport, SubscriberThread } from './relay/subscriber.ts';

const { values: opts } = parseArgs({
  options: {
    modes: { type: 'string', default: 'embedded,kafka' },
    phases: { type: 'string', default: 'throughput,latency,overhead' },
    records: { type: 'string', default: '30000' },
    rate: { type: 'string', default: '1000,400' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    'warm-broker': { type: 'string', default: '60' },
    rounds: { type: 'string', default: '2' },
    'throughput-rounds': { type: 'string', default: '5' },
    clients: { type: 'string', default: '16' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    out: { type: 'string', default: path.join(import.meta.dirname, 'results') },
    'cpu-prof': { type: 'string' },
    set: { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(`${readFileSync(import.meta.filename, 'utf8').split('*/')[0]}*/\n`);
  process.exit(0);
}
const modes = opts.modes.split(',').map((m) => m.trim()) as Mode[];
const phases = new Set(opts.phases.split(',').map((p) => p.trim()));
const recordCount = Number(opts.records);
/** The first rate is the target's; any others are measured beside it, for diagnosis (no target). */
const rates = opts.rate.split(',').map((r) => Number(r.trim()));
const targetRate = rates[0]!;
const measureMs = Number(opts.seconds) * 1000;
const warmupMs = Number(opts.warmup) * 1000;
const warmupBrokerSeconds = Number(opts['warm-broker']);
/** PAYSTREAM_* settings for every paystream process of the run (`--set NAME=VALUE`, repeatable). */
const settingsSet = opts.set;
for (const kv of settingsSet) {
  if (!/^PAYSTREAM_[A-Z_]+=/.test(kv)) throw new Error(`--set wants PAYSTREAM_NAME=VALUE (got "${kv}")`);
}
const rounds = Number(opts.rounds);
const throughputRounds = Number(opts['throughput-rounds']);
const clients = Number(opts.clients);
const pgAdminUrl = opts['pg-url'];
const partitions = 6;

type Mode = 'embedded' | 'kafka';

function log(line: string): void {
  process.stderr.write(`[relay-bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

const fmt = (n: number, digits = 1) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits }) : 'n/a';

const percent = (share: number | undefined) => `${fmt((share ?? Number.NaN) * 100, 0)}%`;

/** The machine's busy share, what of it the hypervisor stole for other guests, and the disk waits. */
function machineShares(cpu: CpuUsage): string {
  return `${percent(cpu.machineBusy)} busy (${percent(cpu.machineSteal)} stolen), ${percent(cpu.machineIowait)} waiting for the disk`;
}

/** A consumer group of its own for each subscriber: it starts at the end of the topic. */
const subscriberGroup = () => `relay-bench-${runId}-${Math.random().toString(36).slice(2, 8)}`;

function paymentBody(i: number): string {
  return JSON.stringify({
    customer_id: `cus_bench_${i % 200}`,
    amount: 100 + (i % 9900),
    currency: 'usd',
    payment_method: 'pm_card_visa',
    description: 'bench payment',
    metadata: { order: `ord_${i}` },
  });
}

/** A fresh place for one mode's paystream: the SQLite directory, or a PostgreSQL database. */
interface Site {
  mode: Mode;
  dataDir: string;
  databaseUrl?: string;
  databaseName?: string;
  env: Record<string, string>;
}

async function createSite(mode: Mode, kafka: LocalKafka | undefined, label: string): Promise<Site> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `paystream-relay-bench-${label}-`));
  const env: Record<string, string> = {
    PAYSTREAM_DATA_DIR: dataDir,
    PAYSTREAM_LOG_LEVEL: 'warn',
    ...Object.fromEntries(
      settingsSet.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    ),
  };
  if (mode === 'embedded') return { mode, dataDir, env };
  const databaseName = await createDatabase(pgAdminUrl, `_relay_${label}`);
  const databaseUrl = withDatabase(pgAdminUrl, databaseName);
  Object.assign(env, {
    PAYSTREAM_DATABASE_URL: databaseUrl,
    PAYSTREAM_KAFKA_BROKERS: kafka!.bootstrap,
    PAYSTREAM_KAFKA_PARTITIONS: String(partitions),
  });
  return { mode, dataDir, databaseUrl, databaseName, env };
}

async function dropSite(site: Site): Promise<void> {
  if (site.databaseName) await dropDatabase(pgAdminUrl, site.databaseName);
  rmSync(site.dataDir, { recursive: true, force: true });
}

/** Starts paystream (`start --no-consumers`: API + relay; `api`: the API alone) on a site; returns its URL and key. */
async function startPaystream(
  site: Site,
  command: 'start' | 'api',
): Promise<{ child: Child; url: string; secret: string }> {
  const env = childEnv(site.env);
  const secret = createKey(env);
  const profile = opts['cpu-prof']
    ? [
        '--cpu-prof',
        // Node's default file names tell the threads apart (the relay thread has a profile of its own).
        '--cpu-prof-dir',
        path.join(opts['cpu-prof'], `${site.mode}-${command}`),
      ]
    : [];
  const { child, match } = await spawnUntil(
    // The services' consumers (receipts) are not this benchmark's subject: its one subscriber is.
    [
      ...profile,
      path.join(import.meta.dirname, '..', 'bin', 'paystream.ts'),
      command,
      ...(command === 'start' ? ['--no-consumers'] : []),
    ],
    env,
    /API on (http:\/\/[^\s,]+)/,
    `paystream ${command} (${site.mode})`,
  );
  return { child, url: match[1]!, secret };
}

function payer(url: string, secret: string, connections: number) {
  const pool = new Pool(url, { connections, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
  let seq = 0;
  /** One payment; resolves to its id, or undefined when it failed. */
  const payOne = async (): Promise<string | undefined> => {
    const i = seq++;
    const res = await pool.request({
      method: 'POST',
      path: '/v1/payments',
      headers: {
        authorization: `Bearer ${secret}`,
        'content-type': 'application/json',
        'idempotency-key': `relay-bench-${runId}-${i}`,
      },
      body: paymentBody(i),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) return undefined;
    const payment = JSON.parse(text) as { id: string; status?: string };
    return payment.status === 'succeeded' ? payment.id : undefined;
  };
  /** The same, as the closed-loop driver's operation: null when it succeeded. */
  const pay: Op = async () => ((await payOne()) === undefined ? 'failed or not succeeded' : null);
  return { pay, payOne, close: () => pool.close() };
}

/** Events per batch of the process's relay so far, from its /metrics (undefined: no relay there). */
async function eventsPerBatch(url: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  };
  const published = value('paystream_relay_published_events_total');
  const batches = value('paystream_relay_batches_total');
  return published !== undefined && batches ? published / batches : undefined;
}

async function withVacuum<T>(site: Site, fn: () => Promise<T>): Promise<{ result: T; vacuums: number }> {
  if (!site.databaseUrl) return { result: await fn(), vacuums: 0 };
  const vacuumer = new Vacuumer(site.databaseUrl);
  await vacuumer.connect();
  await vacuumer.once();
  vacuumer.start(5000);
  try {
    return { result: await fn(), vacuums: vacuumer.log.runs };
  } finally {
    await vacuumer.stop();
  }
}

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

// ---- 0. A warm broker ------------------------------------------------------------------------------

/**
 * Kafka's JVM compiles its hot paths over its first minute or so of traffic; until then each
 * request costs it several times the CPU (measured here: a producer sending 50 batches/s of 20
 * records, and a consumer group reading them, kept a fresh broker 0.44 cores busy, the same
 * broker 0.10 cores a minute later). A real deployment's broker runs for days, so the measurements
 * run on a broker warmed first by this traffic: batches of 20 through the Transport, read back
 * by a consumer group that commits every 100 records, as the pipeline's subscriber does.
 */
async function warmBroker(kafka: LocalKafka, seconds: number): Promise<void> {
  const transport = new KafkaTransport({ brokers: [kafka.bootstrap], clientId: 'relay-bench-warmup' });
  const topic = `relay-bench-warmup-${runId}`;
  log(`kafka: warming the broker for ${seconds} s (its JIT), 1,000 records/s in batches of 20, read back`);
  try {
    await transport.ensureTopics([{ name: topic, partitions, replicationFactor: 1, minInsyncReplicas: 1 }]);
    const subscription = await transport.subscribe({
      group: subscriberGroup(),
      topics: [topic],
      startFrom: 'earliest',
    });
    let read = 0;
    const reading = (async () => {
      for await (const record of subscription) {
        read += 1;
        if (read % 100 === 0) await subscription.commit(record);
      }
    })();
    const value = JSON.stringify({ warm: 'x'.repeat(360) });
    const headers = { ce_id: 'warm', ce_type: 'bench.warmup', ce_source: 'bench', ce_specversion: '1.0' };
    const start = performance.now();
    for (let sent = 0; performance.now() - start < seconds * 1000; ) {
      await transport.publish(
        topic,
        Array.from({ length: 20 }, (_, i) => ({ key: `k${(sent + i) % 200}`, headers, value })),
      );
      sent += 20;
      await sleep(Math.max(0, start + sent - performance.now()));
    }
    await subscription.close();
    await reading;
    log(`kafka: broker warmed (${read} records read back)`);
  } finally {
    await transport.close();
  }
}

// ---- 1. Relay throughput beside ProducerPerformance ----------------------------------------------

interface ThroughputResult {
  records: number;
  rounds: number;
  valueBytesMean: number;
  headerBytesMean: number;
  /** Medians of the rounds, and each round's figure. */
  relayPerSecond: number;
  relayRates: number[];
  producerPerformancePerSecond: number;
  producerRates: number[];
  producerPerformanceLine: string;
  ratio: number;
}

async function relayThroughput(kafka: LocalKafka): Promise<ThroughputResult> {
  const site = await createSite('kafka', kafka, 'throughput');
  const store = openSiteStore(site);
  const transport = openSiteTransport(site, store);
  try {
    await store.migrate();
    await transport.ensureTopics([
      ...coreTopics(loadConfig(site.env)),
      { name: 'perf', partitions, replicationFactor: 1, minInsyncReplicas: 1 },
    ]);
    const writer = new OutboxWriter(new IdGenerator(), systemClock);
    let valueBytes = 0;
    let headerBytes = 0;
    let filled = 0;
    const fill = async () => {
      log(`relay throughput: filling the outbox with ${fmt(recordCount, 0)} payment.succeeded events`);
      valueBytes = 0;
      headerBytes = 0;
      for (let i = 0; i < recordCount; i += 1000) {
        await store.transaction(async (trx) => {
          const rows = [];
          for (let j = i; j < Math.min(recordCount, i + 1000); j += 1) {
            const { envelope, row } = writer.prepare({
              type: 'payment.succeeded',
              subject: `pay_01JBENCH${String(j).padStart(18, '0')}`,
              partitionKey: `acct_01JBENCHMERCHANT0000000000/cus_bench_${j % 1000}`,
              data: {
                payment_id: `pay_01JBENCH${String(j).padStart(18, '0')}`,
                merchant_id: 'acct_01JBENCHMERCHANT0000000000',
                customer_id: `cus_bench_${j % 1000}`,
                amount: 100 + (j % 9900),
                currency: 'usd',
                payment_method: 'pm_card_visa',
                description: 'bench payment',
                metadata: { order: `ord_${j}` },
                livemode: false,
                created: Math.floor(Date.now() / 1000),
                gateway_charge_id: `ch_sandbox_${j}`,
                receipt_email: null,
                statement_descriptor: null,
              },
            });
            valueBytes += Buffer.byteLength(JSON.stringify(envelope.data));
            headerBytes += Object.entries({
              ce_specversion: envelope.specversion,
              ce_id: envelope.id,
              ce_source: envelope.source,
              ce_type: envelope.type,
              ce_subject: envelope.subject,
              ce_time: envelope.time,
              ce_dataschema: envelope.dataschema,
              ce_partitionkey: envelope.partitionkey,
              'content-type': envelope.datacontenttype,
            }).reduce((n, [k, v]) => n + k.length + v.length, 0);
            rows.push(row);
          }
          await trx.insertInto('outbox').values(rows).execute();
        });
      }
      filled += 1;
      await adminQuery(site.databaseUrl!, `VACUUM (ANALYZE) ${benchTables.join(', ')}`);
    };
    // The relay's own loop (leased, pipelined), as `paystream relay` runs it, until the outbox is empty.
    const runRelay = async () => {
      const relay = new OutboxRelay({ store, transport });
      const t0 = performance.now();
      await relay.start();
      while (await store.db.selectFrom('outbox').select('position').limit(1).executeTakeFirst())
        await sleep(5);
      await relay.stop();
      const perSecond = recordCount / ((performance.now() - t0) / 1000);
      log(`relay throughput: ${fmt(perSecond, 0)} events/s`);
      return perSecond;
    };
    const runProducerPerformance = () => {
      const output = execFileSync(
        'java',
        [
          '-Xmx512m',
          '-cp',
          `${kafka.libs}/*`,
          'org.apache.kafka.tools.ProducerPerformance',
          '--topic',
          'perf',
          '--num-records',
          String(recordCount),
          '--record-size',
          String(Math.round(valueBytes / recordCount)),
          '--throughput',
          '-1',
          '--producer-props',
          `bootstrap.servers=${kafka.bootstrap}`,
          'acks=all',
          'enable.idempotence=true',
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const line = output.trim().split('\n').pop()!;
      const perSecond = Number(/([\d.]+) records\/sec/.exec(line)?.[1]);
      if (!Number.isFinite(perSecond)) throw new Error(`ProducerPerformance printed no rate:\n${output}`);
      log(
        `ProducerPerformance: ${fmt(perSecond, 0)} records/s (${recordCount} records of ${Math.round(valueBytes / recordCount)} bytes)`,
      );
      return { perSecond, line };
    };
    // Rounds alternating which goes first: the machine's drift favours neither. On this 2-core VM
    // ProducerPerformance alone swung from 21,000 to 49,000 records/s between consecutive rounds:
    // five rounds give medians that one slow round cannot move.
    const relayRates: number[] = [];
    const producerRates: number[] = [];
    let producerLine = '';
    for (let round = 1; round <= throughputRounds; round += 1) {
      await fill();
      const order = round % 2 ? ['relay', 'producer'] : ['producer', 'relay'];
      for (const which of order) {
        if (which === 'relay') relayRates.push(await runRelay());
        else {
          const pp = runProducerPerformance();
          producerRates.push(pp.perSecond);
          producerLine = pp.line;
        }
      }
    }
    const relayPerSecond = median(relayRates);
    const perSecond = median(producerRates);
    return {
      records: recordCount,
      rounds: filled,
      valueBytesMean: valueBytes / recordCount,
      headerBytesMean: headerBytes / recordCount,
      relayPerSecond,
      relayRates,
      producerPerformancePerSecond: perSecond,
      producerRates,
      producerPerformanceLine: producerLine,
      ratio: relayPerSecond / perSecond,
    };
  } finally {
    await transport.close();
    await store.close();
    await dropSite(site);
  }
}

// ---- 2. End-to-end latency at a fixed rate --------------------------------------------------------

interface LatencyResult {
  mode: Mode;
  targetRate: number;
  sentPerSecond: number;
  errors: number;
  /** Requests still unanswered when the next was due, at most, during the window. */
  inFlightMax: number;
  /** The most events seen waiting in the outbox (sampled every 200 ms). */
  backlogMax: number;
  /** Events of the window that reached the subscriber, of those paid. */
  received: number;
  paid: number;
  latency: LatencySummary;
  /** Event time to the record's log timestamp: the commit wait and the relay. */
  toLog: LatencySummary;
  /** The log timestamp to the subscriber: delivery. */
  fromLog: LatencySummary;
  /** CPU of each process over the measured window (per payment and in cores): the machine's budget. */
  cpu: CpuUsage | undefined;
  /** Events per batch the relay published, over the whole run. */
  perBatch: number | undefined;
}

async function endToEnd(mode: Mode, kafka: LocalKafka | undefined, rate: number): Promise<LatencyResult> {
  const site = await createSite(mode, kafka, 'latency');
  const { child, url, secret } = await startPaystream(site, 'start');
  const store = openSiteStore(site);
  const subscriber = await SubscriberThread.start(site, subscriberGroup());
  const { payOne, close } = payer(url, secret, 256);
  try {
    const { result } = await withVacuum(site, async () => {
      log(`${mode}: end-to-end at ${rate} payments/s, ${warmupMs / 1000} s warm-up + ${measureMs / 1000} s`);
      const tickMs = 5;
      const perTick = (rate * tickMs) / 1000;
      const start = performance.now();
      const windowStart = Date.now() + warmupMs;
      const windowEnd = windowStart + measureMs;
      let due = 0;
      let sent = 0;
      let sentInWindow = 0;
      const paidInWindow: string[] = [];
      let errors = 0;
      let inFlight = 0;
      let inFlightMax = 0;
      const pending = new Set<Promise<void>>();
      // CPU of every process of the pipeline over the window: on 2 cores, the budget they share.
      const processes: Record<string, number | 'self'> = {
        'paystream start (API, relay, sandbox gateway)': child.pid,
        'bench (load generator + subscriber)': 'self',
      };
      for (const [i, node] of (kafka?.nodes ?? []).entries()) {
        if (mode === 'kafka' && node.pid !== undefined) processes[`kafka broker ${i + 1}`] = node.pid;
      }
      let cpuAtStart: CpuSnapshot | undefined;
      // The outbox's backlog, sampled: what the relay has not yet moved.
      let backlogMax = 0;
      const backlogTimer = setInterval(() => {
        void store.db
          .selectFrom('outbox')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirst()
          .then((row) => {
            if (Date.now() >= windowStart) backlogMax = Math.max(backlogMax, Number(row?.n ?? 0));
          })
          .catch(() => undefined);
      }, 200);
      // Open loop: requests go out on schedule whatever the answers do, as real clients would.
      while (Date.now() < windowEnd) {
        due += perTick;
        while (sent < Math.floor(due)) {
          sent += 1;
          const inWindow = Date.now() >= windowStart;
          if (inWindow && cpuAtStart === undefined) cpuAtStart = cpuSnapshot(processes);
          if (inWindow) sentInWindow += 1;
          inFlight += 1;
          if (inWindow) inFlightMax = Math.max(inFlightMax, inFlight);
          const p: Promise<void> = payOne()
            .then((id) => {
              if (id === undefined) errors += 1;
              else if (inWindow) paidInWindow.push(id);
            })
            .catch(() => {
              errors += 1;
            })
            .finally(() => {
              inFlight -= 1;
              pending.delete(p);
            });
          pending.add(p);
        }
        const next = start + (sent / rate) * 1000;
        const wait = next - performance.now();
        await sleep(Math.max(0, Math.min(tickMs, wait)));
      }
      const cpuAtEnd = cpuSnapshot(processes);
      await Promise.all(pending);
      clearInterval(backlogTimer);
      // Let the pipeline deliver what the window paid for (15 s at most).
      const samples = await subscriber.samples(paidInWindow, 15_000);
      return {
        mode,
        targetRate: rate,
        sentPerSecond: sentInWindow / (measureMs / 1000),
        errors,
        inFlightMax,
        backlogMax,
        received: samples.length,
        paid: paidInWindow.length,
        latency: summarize(samples.map((s) => s.latencyMs)),
        toLog: summarize(samples.map((s) => s.toLogMs)),
        fromLog: summarize(samples.map((s) => s.fromLogMs)),
        cpu: cpuAtStart
          ? cpuUsage(cpuAtStart, cpuAtEnd, sentInWindow / ((cpuAtEnd.at - cpuAtStart.at) / 1000))
          : undefined,
        perBatch: await eventsPerBatch(url),
      };
    });
    log(
      `${mode}: sent ${fmt(result.sentPerSecond, 0)}/s, ${result.received}/${result.paid} events received, ` +
        `outbox backlog max ${result.backlogMax}, requests in flight max ${result.inFlightMax}; ` +
        `p50 ${fmt(result.latency.p50Ms)} ms, p99 ${fmt(result.latency.p99Ms)} ms ` +
        `(to the log p50 ${fmt(result.toLog.p50Ms)} / p99 ${fmt(result.toLog.p99Ms)}, ` +
        `from it p50 ${fmt(result.fromLog.p50Ms)} / p99 ${fmt(result.fromLog.p99Ms)})`,
    );
    if (result.cpu) {
      log(
        `${mode}: CPU in cores: ${Object.entries(result.cpu.parts)
          .map(([label, part]) => `${label} ${fmt(part.cores, 2)}`)
          .join(', ')}; machine ${machineShares(result.cpu)}`,
      );
    }
    return result;
  } finally {
    await close();
    await subscriber.close();
    await store.close();
    await child.stop();
    await dropSite(site);
  }
}

// ---- 3. The API with the pipeline, beside the API alone --------------------------------------------

interface OverheadRound {
  variant: 'api alone' | 'api + relay + subscriber';
  round: number;
  perSecond: number;
  p99Ms: number;
  errors: number;
  eventsReceived?: number;
  /** CPU of each process over the measured window, per payment and in cores. */
  cpu: CpuUsage | undefined;
  /** Events per batch the relay published (with the pipeline). */
  perBatch?: number | undefined;
}

interface OverheadResult {
  mode: Mode;
  clients: number;
  rounds: OverheadRound[];
  aloneMedian: number;
  pipelineMedian: number;
  ratio: number;
}

async function overhead(mode: Mode, kafka: LocalKafka | undefined): Promise<OverheadResult> {
  const out: OverheadRound[] = [];
  for (let round = 1; round <= rounds; round += 1) {
    // Alternate which goes first, so a drift of the machine favours neither.
    const order: OverheadRound['variant'][] =
      round % 2 ? ['api alone', 'api + relay + subscriber'] : ['api + relay + subscriber', 'api alone'];
    for (const variant of order) {
      const site = await createSite(mode, kafka, `overhead${round}${variant === 'api alone' ? 'a' : 'p'}`);
      const withPipeline = variant !== 'api alone';
      const { child, url, secret } = await startPaystream(site, withPipeline ? 'start' : 'api');
      const subscriber = withPipeline ? await SubscriberThread.start(site, subscriberGroup()) : undefined;
      const { pay, close } = payer(url, secret, clients);
      try {
        const processes: Record<string, number | 'self'> = {
          [`paystream ${withPipeline ? 'start' : 'api'}`]: child.pid,
          [`bench (load generator${withPipeline ? ' + subscriber' : ''})`]: 'self',
        };
        for (const [i, node] of (kafka?.nodes ?? []).entries()) {
          if (mode === 'kafka' && node.pid !== undefined) processes[`kafka broker ${i + 1}`] = node.pid;
        }
        const { result } = await withVacuum(site, () =>
          drive(pay, { concurrency: clients, warmupMs, measureMs, cpu: processes }),
        );
        const errors = Object.values(result.errors).reduce((a, b) => a + b, 0);
        out.push({
          variant,
          round,
          perSecond: result.perSecond,
          p99Ms: result.latency.p99Ms,
          errors,
          eventsReceived: await subscriber?.received(),
          cpu: result.cpu,
          perBatch: withPipeline ? await eventsPerBatch(url) : undefined,
        });
        log(
          `${mode}: ${variant}, round ${round}: ${fmt(result.perSecond, 0)} payments/s, p99 ${fmt(result.latency.p99Ms)} ms` +
            (result.cpu ? `; machine ${machineShares(result.cpu)}` : ''),
        );
      } finally {
        await close();
        await subscriber?.close();
        await child.stop();
        await dropSite(site);
      }
    }
  }
  const aloneMedian = median(out.filter((r) => r.variant === 'api alone').map((r) => r.perSecond));
  const pipelineMedian = median(out.filter((r) => r.variant !== 'api alone').map((r) => r.perSecond));
  return { mode, clients, rounds: out, aloneMedian, pipelineMedian, ratio: pipelineMedian / aloneMedian };
}

// ---- The run and its report ------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  log(`run ${runId}: node bench/relay.ts ${process.argv.slice(2).join(' ')}`);
  let kafka: LocalKafka | undefined;
  let kafkaDir: string | undefined;
  if (modes.includes('kafka')) {
    kafkaDir = mkdtempSync(path.join(os.tmpdir(), 'paystream-relay-bench-kafka-'));
    kafka = (await LocalKafka.start({ nodes: 1, dir: kafkaDir })).kafka;
    log(`Kafka ${kafkaVersion} on ${kafka.bootstrap}`);
    if (warmupBrokerSeconds > 0) await warmBroker(kafka, warmupBrokerSeconds);
  }
  try {
    const throughput = kafka && phases.has('throughput') ? await relayThroughput(kafka) : undefined;
    const latencies: LatencyResult[] = [];
    if (phases.has('latency'))
      for (const mode of modes) for (const rate of rates) latencies.push(await endToEnd(mode, kafka, rate));
    const overheads: OverheadResult[] = [];
    if (phases.has('overhead')) for (const mode of modes) overheads.push(await overhead(mode, kafka));

    const targets = [
      ...(throughput
        ? [
            {
              name: 'Relay throughput >= 50% of ProducerPerformance (same records, acks=all)',
              measured: `${fmt(throughput.relayPerSecond, 0)} / ${fmt(throughput.producerPerformancePerSecond, 0)} = ${fmt(throughput.ratio * 100)}%`,
              pass: throughput.ratio >= 0.5,
            },
          ]
        : []),
      ...latencies
        .filter((l) => l.targetRate === targetRate)
        .map((l) => ({
          name: `${l.mode}: end-to-end p99 <= 50 ms at ${l.targetRate} payments/s`,
          measured: `p99 ${fmt(l.latency.p99Ms)} ms (p50 ${fmt(l.latency.p50Ms)} ms), sent ${fmt(l.sentPerSecond, 0)}/s, ${l.received}/${l.paid} events`,
          pass: l.latency.p99Ms <= 50 && l.received === l.paid && l.sentPerSecond >= 0.95 * l.targetRate,
        })),
      ...overheads.map((o) => ({
        name: `${o.mode}: API with relay + subscriber >= 85% of the API alone`,
        measured: `${fmt(o.pipelineMedian, 0)} / ${fmt(o.aloneMedian, 0)} = ${fmt(o.ratio * 100)}%`,
        pass: o.ratio >= 0.85,
      })),
    ];
    const date = started.toISOString().slice(0, 10);
    const report = {
      date: started.toISOString(),
      command: `node bench/relay.ts ${process.argv.slice(2).join(' ')}`.trim(),
      settings: {
        modes,
        recordCount,
        rates,
        measureMs,
        warmupMs,
        warmupBrokerSeconds,
        rounds,
        throughputRounds,
        clients,
        partitions,
        kafkaVersion,
      },
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model,
        memGiB: os.totalmem() / 2 ** 30,
        node: process.version,
      },
      targets,
      throughput,
      latencies,
      overheads,
    };
    mkdirSync(opts.out, { recursive: true });
    const base = path.join(opts.out, `relay-${date}`);
    writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(`${base}.md`, markdown(report));
    log(`report: ${base}.md`);
    for (const t of targets) log(`${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.measured}`);
  } finally {
    await kafka?.stop();
    if (kafkaDir) rmSync(kafkaDir, { recursive: true, force: true });
  }
}

function markdown(r: {
  date: string;
  command: string;
  settings: Record<string, unknown>;
  machine: Record<string, unknown>;
  targets: { name: string; measured: string; pass: boolean }[];
  throughput: ThroughputResult | undefined;
  latencies: LatencyResult[];
  overheads: OverheadResult[];
}): string {
  const lines = [
    `# Event pipeline benchmark, ${r.date}`,
    '',
    `Command: \`${r.command}\` (\`npm run bench:relay\`). Machine: ${r.machine['cpus']} × ${r.machine['cpuModel']}, ` +
      `${fmt(Number(r.machine['memGiB']))} GiB, Node ${r.machine['node']}. Kafka ${r.settings['kafkaVersion']}, one local ` +
      `broker (\`paystream kafka\`), topics of ${r.settings['partitions']} partitions, warmed first by ` +
      `${r.settings['warmupBrokerSeconds']} s of traffic (its JVM compiles its hot paths over its first minute under load: until ` +
      'then each request costs it several times the CPU). PostgreSQL tables VACUUM (ANALYZE)d ' +
      'before each measurement and every 5 s during load (autovacuum is off on this machine). Everything runs on ' +
      'the same 2 cores, the load generator and the subscriber included: compare the ratios, not absolute figures.',
    '',
    '## Targets',
    '',
    '| target | measured | result |',
    '| --- | --- | --- |',
    ...r.targets.map((t) => `| ${t.name} | ${t.measured} | **${t.pass ? 'PASS' : 'FAIL'}** |`),
    '',
  ];
  if (r.throughput) {
    const t = r.throughput;
    lines.push(
      '## 1. Relay throughput beside ProducerPerformance',
      '',
      `${fmt(t.records, 0)} payment.succeeded events, value ${fmt(t.valueBytesMean, 0)} bytes on average (CloudEvents ` +
        `binary mode adds ${fmt(t.headerBytesMean, 0)} bytes of ce_* headers per record, which ProducerPerformance does not send). ` +
        "The relay's own loop drains a pre-filled PostgreSQL outbox (read 500 rows, publish them with acks=all and the " +
        'idempotent producer; the statement that reads the next 500 also moves the 500 before them to the events archive ' +
        'and out of the outbox, and runs while they are published). ' +
        'ProducerPerformance sends the same count of records of the mean value size with acks=all and enable.idempotence=true, default batching.',
      '',
      `${t.rounds} rounds, alternating which runs first; the medians are compared.`,
      '',
      '| | records/s |',
      '| --- | --- |',
      `| OutboxRelay (outbox -> Kafka -> archive) | ${fmt(t.relayPerSecond, 0)} (rounds: ${t.relayRates.map((r) => fmt(r, 0)).join(', ')}) |`,
      `| ProducerPerformance | ${fmt(t.producerPerformancePerSecond, 0)} (rounds: ${t.producerRates.map((r) => fmt(r, 0)).join(', ')}) |`,
      `| ratio of the medians | ${fmt(t.ratio * 100)}% |`,
      '',
      `ProducerPerformance's summary: \`${t.producerPerformanceLine}\``,
      '',
    );
  }
  lines.push(
    '## 2. End-to-end latency',
    '',
    'Payments sent open loop at the target rate to a real `paystream start --no-consumers` (API + relay, no service consumers) process; a subscriber in the ' +
      "benchmark's process reads the payments topic through the Transport (embedded: another process on the same SQLite file, " +
      "woken by inotify; kafka: a consumer group). Latency = receive time - the event's `time`, which is set just before the " +
      "payment's transaction commits: an upper bound on commit-to-handler.",
    '',
    '| mode | rate | sent/s | errors | requests in flight (max) | outbox backlog (max) | events received / paid | p50 ms | p90 ms | p99 ms | max ms | to the log p50 / p99 | from the log p50 / p99 | events per relay batch |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.latencies.map(
      (l) =>
        `| ${l.mode} | ${l.targetRate}${l.targetRate === r.latencies[0]?.targetRate ? ' (target)' : ''} | ${fmt(l.sentPerSecond, 0)} | ${l.errors} | ${l.inFlightMax} | ${l.backlogMax} | ${l.received} / ${l.paid} | ${fmt(l.latency.p50Ms)} | ` +
        `${fmt(l.latency.p90Ms)} | ${fmt(l.latency.p99Ms)} | ${fmt(l.latency.maxMs)} | ` +
        `${fmt(l.toLog.p50Ms)} / ${fmt(l.toLog.p99Ms)} | ${fmt(l.fromLog.p50Ms)} / ${fmt(l.fromLog.p99Ms)} | ${l.perBatch === undefined ? '' : fmt(l.perBatch)} |`,
    ),
    '',
    'Requests in flight grow past a few dozen only when the API cannot keep up with the rate (compare section 3, the ' +
      "API's closed-loop capacity in this run): the latency then measures queueing in an overloaded API, not the " +
      'pipeline. ' +
      "\"To the log\" is the event's time to the record's timestamp in the log (Kafka: the producer's create time, " +
      'set when the relay publishes; embedded: the append); "from the log" is that timestamp to the subscriber.',
    '',
    'Where the CPU went during each latency window (from /proc, all threads, user + kernel; per payment sent, and in cores: this machine has 2). "everything else" is busy time of processes outside the run (other users of the machine); time the hypervisor gave other guests ("stolen", /proc/stat\'s steal) is not in it but in the machine lines below, as is the share of time the cores sat idle waiting for the disk.',
    '',
    '| mode | rate | process | CPU ms per payment | cores | kernel share |',
    '| --- | --- | --- | --- | --- | --- |',
    ...r.latencies.flatMap((l) =>
      Object.entries(l.cpu?.parts ?? {}).map(
        ([label, part]) =>
          `| ${l.mode} | ${l.targetRate} | ${label} | ${fmt(part.perPaymentMs, 2)} | ${fmt(part.cores, 2)} | ${Number.isFinite(part.kernelShare) ? `${fmt(part.kernelShare * 100, 0)}%` : ''} |`,
      ),
    ),
    ...r.latencies.map(
      (l) =>
        `- ${l.mode} at ${l.targetRate}/s: the machine (both cores): ${l.cpu ? machineShares(l.cpu) : 'n/a'}.`,
    ),
    '',
    '## 3. The API with the pipeline, beside the API alone',
    '',
    `Closed loop, ${r.settings['clients']} clients, ${fmt(Number(r.settings['measureMs']) / 1000, 0)} s after ` +
      `${fmt(Number(r.settings['warmupMs']) / 1000, 0)} s of warm-up, each on a fresh store; alone = \`paystream api\` ` +
      '(no relay: events stay in the outbox), with the pipeline = `paystream start --no-consumers` (API + relay) and a subscriber. ' +
      'Rounds alternate the order.',
    '',
    '| mode | variant | round | payments/s | p99 ms | errors | events received | events per relay batch |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.overheads.flatMap((o) =>
      o.rounds.map(
        (x) =>
          `| ${o.mode} | ${x.variant} | ${x.round} | ${fmt(x.perSecond, 0)} | ${fmt(x.p99Ms)} | ${x.errors} | ${x.eventsReceived ?? ''} | ${x.perBatch === undefined ? '' : fmt(x.perBatch)} |`,
      ),
    ),
    '',
    ...r.overheads.map(
      (o) =>
        `- ${o.mode}: medians ${fmt(o.pipelineMedian, 0)} with the pipeline / ${fmt(o.aloneMedian, 0)} alone = ${fmt(o.ratio * 100)}%`,
    ),
    '',
    'Where the CPU went in each round (as in section 2, per payment completed): what the pipeline adds per payment, ' +
      'on a machine whose 2 cores the API alone already keeps busy, is what it takes from the payments/s.',
    '',
    '| mode | variant | round | process | CPU ms per payment | cores | machine busy | of which stolen | disk wait |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.overheads.flatMap((o) =>
      o.rounds.flatMap((x) =>
        Object.entries(x.cpu?.parts ?? {}).map(
          ([label, part]) =>
            `| ${o.mode} | ${x.variant} | ${x.round} | ${label} | ${fmt(part.perPaymentMs, 2)} | ${fmt(part.cores, 2)} | ${percent(x.cpu?.machineBusy)} | ${percent(x.cpu?.machineSteal)} | ${percent(x.cpu?.machineIowait)} |`,
        ),
      ),
    ),
    '',
  );
  return lines.join('\n');
}

await main();
