import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { LocalKafka } from '../../src/local-kafka/cluster.ts';
import { waitFor } from '../runtime/support.ts';
import { createTestDatabase, postgresAdminUrl } from '../support/dialects.ts';
import { type Proc, spawnPaystream } from '../support/processes.ts';

/**
 * What `/metrics` serves, from real `paystream start` and `paystream worker` processes that
 * handled payments, passes Prometheus' own linter (`promtool check metrics`), and carries the
 * consumer metrics. promtool comes from .ci/promtool.sh (Debian's prometheus package, unpacked);
 * in CI (PAYSTREAM_TEST_REQUIRE_KAFKA=1) a missing promtool fails the test instead of skipping it.
 */

const root = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const requireAll = process.env['PAYSTREAM_TEST_REQUIRE_KAFKA'] === '1';

function findPromtool(): string | undefined {
  const candidates = [
    process.env['PAYSTREAM_TEST_PROMTOOL'],
    path.join(os.homedir(), '.cache/paystream/prometheus/usr/bin/promtool'),
  ].filter((c): c is string => Boolean(c));
  for (const c of candidates) if (existsSync(c)) return c;
  const onPath = spawnSync('sh', ['-c', 'command -v promtool']);
  return onPath.status === 0 ? onPath.stdout.toString().trim() : undefined;
}

const promtool = findPromtool();
const missing = promtool
  ? false
  : 'promtool is not installed: run .ci/promtool.sh (it unpacks Debian’s prometheus package)';

/** `promtool check metrics` on the text: its exit code and what it printed (problems, one a line). */
function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(promtool!, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
    child.stdin.end(text);
  });
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** The value of one sample, `name{labels} value`; labels in the order prom-client writes them. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

async function pay(url: string, key: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1) {
    const res = await fetch(`${url}/v1/payments`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'idempotency-key': `metrics-${i}-${Math.random()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        customer_id: `cus_${i % 3}`,
        amount: 1000 + i,
        currency: 'usd',
        payment_method: 'pm_card_visa',
        receipt_email: `buyer${i}@example.com`,
      }),
    });
    assert.equal(res.status, 200, await res.text());
  }
}

async function checkMetrics(url: string): Promise<string> {
  const text = await scrape(url);
  const checked = await promtoolCheck(text);
  assert.deepEqual(checked, { code: 0, output: '' }, `promtool check metrics on ${url}/metrics`);
  return text;
}

async function startApi(env: NodeJS.ProcessEnv): Promise<{ proc: Proc; url: string; key: string }> {
  const proc = spawnPaystream('start', ['start'], env);
  const [, url] = await proc.waitFor('stdout', /API on (http:\/\/\S+?)[,\s]/, 60_000);
  const [key] = await proc.waitFor('stdout', /sk_test_[A-Za-z0-9]{32}/, 10_000);
  return { proc, url: url!, key };
}

const baseEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env['PATH'],
  HOME: process.env['HOME'],
  PAYSTREAM_PORT: '0',
  PAYSTREAM_GATEWAY_PORT: '0',
  PAYSTREAM_LOG_LEVEL: 'warn',
});

describe('/metrics passes promtool check metrics', () => {
  test('promtool is there (CI fails without it)', { skip: !requireAll && missing }, () => {
    assert.ok(promtool, missing || undefined);
  });

  test('paystream start, embedded: receipts handled, consumer metrics present; paystream lag agrees', {
    skip: missing,
  }, async (t) => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paystream-metrics-'));
    const env = { ...baseEnv(), PAYSTREAM_DATA_DIR: dataDir };
    const { proc, url, key } = await startApi(env);
    t.after(async () => {
      await proc.kill();
      rmSync(dataDir, { recursive: true, force: true });
    });
    await pay(url, key, 6);
    const applied = 'paystream_consumer_events_total{consumer="receipts",outcome="applied"}';
    let text = '';
    // The lag gauge follows the committed offsets, which trail the handler by a commit interval.
    const lagEvents = 'paystream_consumer_lag_events{consumer="receipts"}';
    await waitFor('6 receipts, and their offsets committed', async () => {
      text = await scrape(url);
      return sample(text, applied) === 6 && sample(text, lagEvents) === 0;
    });
    text = await checkMetrics(url);
    assert.equal(sample(text, 'paystream_consumer_handler_duration_seconds_count{consumer="receipts"}'), 6);
    assert.equal(sample(text, 'paystream_consumer_end_to_end_seconds_count{consumer="receipts"}'), 6);
    assert.equal(sample(text, 'paystream_consumer_lag_events{consumer="receipts"}'), 0);
    assert.equal(sample(text, 'paystream_consumer_lag_seconds{consumer="receipts"}'), 0);
    assert.equal(sample(text, 'paystream_breaker_state{provider="smtp"}'), 0);
    assert.match(text, /^# TYPE paystream_consumer_attempt_failures_total counter$/m);
    assert.match(text, /^# TYPE paystream_consumer_dead_lettered_total counter$/m);
    assert.match(text, /^paystream_process_cpu_seconds_total /m);
    // The relay runs in `start`: it is the active one, it published the 6 events, the outbox is empty.
    assert.equal(sample(text, 'paystream_relay_active'), 1);
    assert.equal(sample(text, 'paystream_relay_published_events_total'), 6);
    assert.equal(sample(text, 'paystream_outbox_backlog_events'), 0);

    const lag = await run(process.execPath, [path.join(root, 'bin/paystream.ts'), 'lag'], { env });
    assert.match(
      lag.stdout,
      /^receipts {2}group paystream\.receipts {2}lag 0 events {2}dead letters pending 0$/m,
    );
    assert.match(lag.stdout, /^ {2}payments +0 +6 +6 +0$/m);
  });

  test('paystream start and paystream worker on PostgreSQL + Kafka: both processes pass; lag drains to 0', {
    skip: missing || (!postgresAdminUrl && !requireAll ? 'needs PAYSTREAM_TEST_DATABASE_URL' : false),
  }, async (t) => {
    const hasJava = spawnSync('java', ['-version']).status === 0;
    if (!hasJava) {
      if (requireAll) assert.fail('PAYSTREAM_TEST_REQUIRE_KAFKA=1 but java is missing');
      t.skip('needs java for a local Kafka');
      return;
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'paystream-metrics-kafka-'));
    const { kafka } = await LocalKafka.start({ nodes: 1, dir });
    const db = await createTestDatabase('postgres');
    const procs: Proc[] = [];
    t.after(async () => {
      for (const p of procs) await p.kill();
      await kafka.stop();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    });
    const env = {
      ...baseEnv(),
      PAYSTREAM_DATA_DIR: db.dataDir,
      PAYSTREAM_DATABASE_URL: db.databaseUrl,
      PAYSTREAM_KAFKA_BROKERS: kafka.bootstrap,
      PAYSTREAM_KAFKA_PARTITIONS: '4',
    };
    const api = await startApi(env);
    procs.push(api.proc);
    const worker = spawnPaystream('worker', ['worker', 'receipts'], { ...env, PAYSTREAM_WORKER_PORT: '0' });
    procs.push(worker);
    const [, workerUrl] = await worker.waitFor('stdout', /metrics on (http:\/\/\S+)\/metrics/, 60_000);
    // A second relay, in a process of its own: it stands by while the one in `start` is active.
    const relay = spawnPaystream('relay', ['relay'], { ...env, PAYSTREAM_WORKER_PORT: '0' });
    procs.push(relay);
    const [, relayUrl] = await relay.waitFor('stdout', /metrics on (http:\/\/\S+)\/metrics/, 60_000);

    await pay(api.url, api.key, 12);
    const applied = 'paystream_consumer_events_total{consumer="receipts",outcome="applied"}';
    await waitFor(
      '12 receipts across the two members of the group',
      async () => {
        const [a, b] = await Promise.all([scrape(api.url), scrape(workerUrl!)]);
        return (sample(a, applied) ?? 0) + (sample(b, applied) ?? 0) === 12;
      },
      60_000,
    );
    for (const url of [api.url, workerUrl!]) {
      const text = await checkMetrics(url);
      assert.match(text, /^# TYPE paystream_consumer_events_total counter$/m);
      assert.match(text, /^# TYPE paystream_consumer_lag_events gauge$/m);
    }
    const both = (a: string, b: string, series: string) =>
      (sample(a, series) ?? 0) + (sample(b, series) ?? 0);
    // A relay counts a batch once its move out of the outbox commits, which may follow the receipts.
    await waitFor('the 12 events counted as published', async () => {
      const [a, b] = await Promise.all([scrape(api.url), scrape(relayUrl!)]);
      return both(a, b, 'paystream_relay_published_events_total') === 12;
    });
    const [apiText, relayText] = [await checkMetrics(api.url), await checkMetrics(relayUrl!)];
    assert.equal(both(apiText, relayText, 'paystream_relay_active'), 1, 'one of the two relays is active');
    assert.equal(sample(relayText, 'paystream_outbox_backlog_events'), 0);
    const cli = () => run(process.execPath, [path.join(root, 'bin/paystream.ts'), 'lag'], { env });
    let out = '';
    await waitFor(
      'the committed offsets to reach the end',
      async () => {
        out = (await cli()).stdout;
        return /^receipts {2}group paystream\.receipts {2}lag 0 events/m.test(out);
      },
      30_000,
    ).catch((error: unknown) => {
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}; paystream lag said:\n${out}`,
      );
    });
    // Four partitions, each caught up (one no customer's key maps to was never committed: `-`).
    assert.equal(out.match(/^ {2}payments +\d+ +(\d+|-) +\d+ +0$/gm)?.length, 4, out);
  });
});
