/**
 * API throughput benchmark: POST /v1/payments through a real paystream process, then the same SQL
 * work run directly against the store in this process (the "reference"), for the embedded mode
 * (SQLite) and the PostgreSQL mode. Writes bench/results/api-<date>.md and .json. See bench/README.md.
 *
 *   node bench/api.ts [--seconds 15] [--warmup 3] [--concurrency 16,32] [--modes embedded,postgres]
 *                     [--pg-url postgres://postgres@127.0.0.1:5432/postgres] [--pg-sandbox in-process|separate]
 *                     [--out bench/results] [--cpu-prof]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { Pool } from 'undici';
import { ApiKeys } from '../src/admin/api-keys.ts';
import { migrationSets } from '../src/app/migrations.ts';
import { OutboxWriter } from '../src/events/outbox.ts';
import type { Gateway } from '../src/gateway/gateway.ts';
import { requestFingerprint } from '../src/idempotency/fingerprint.ts';
import { newProcessingPayment } from '../src/payments/payment.ts';
import { paymentWritesFor } from '../src/payments/payment-writes.ts';
import { PaymentService } from '../src/payments/service.ts';
import { systemClock } from '../src/platform/clock.ts';
import { loadConfig } from '../src/platform/config.ts';
import { IdGenerator } from '../src/platform/ids.ts';
import { openStore } from '../src/store/open.ts';
import type { Store } from '../src/store/store.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'bin', 'paystream.ts');

// ---------------------------------------------------------------------------------------------
// Options

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16,32' },
    modes: { type: 'string', default: 'embedded,postgres' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    'pg-sandbox': { type: 'string', default: 'separate' },
    'embedded-sandbox': { type: 'string', default: 'in-process' },
    instrument: { type: 'boolean', default: false },
    whatif: { type: 'string' },
    'pool-max': { type: 'string' },
    'vacuum-interval': { type: 'string', default: '5' },
    customers: { type: 'string', default: '50' },
    out: { type: 'string', default: path.join(root, 'bench', 'results') },
    'cpu-prof': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(`${readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]}*/\n`);
  process.exit(0);
}

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got "${raw}")`);
  return n;
}

const measureSeconds = positive('seconds', opts.seconds);
const warmupSeconds = Number(opts.warmup);
if (!Number.isFinite(warmupSeconds) || warmupSeconds < 0) throw new Error('--warmup must be >= 0');
/** Client counts to measure, each in its own pair of phases: saturation shows as the same payments/s with more latency. */
const concurrencies = opts.concurrency.split(',').map((c) => Math.floor(positive('concurrency', c.trim())));
/** The client count of the phases being run now. */
let concurrency = concurrencies[0]!;
const customers = Math.floor(positive('customers', opts.customers));
const vacuumIntervalMs = positive('vacuum-interval', opts['vacuum-interval']) * 1000;
const modes = opts.modes.split(',').map((m) => m.trim());
for (const m of modes) {
  if (m !== 'embedded' && m !== 'postgres') throw new Error(`--modes: unknown mode "${m}"`);
}
const pgSandbox = opts['pg-sandbox'];
const embeddedSandbox = opts['embedded-sandbox'];
for (const [name, v] of [
  ['pg-sandbox', pgSandbox],
  ['embedded-sandbox', embeddedSandbox],
]) {
  if (v !== 'in-process' && v !== 'separate') throw new Error(`--${name} must be in-process or separate`);
}
const poolMax =
  opts['pool-max'] === undefined ? undefined : String(Math.floor(positive('pool-max', opts['pool-max'])));
/** PAYSTREAM_* settings shared by the server and the reference store (default: paystream's defaults). */
const sharedSettings: Record<string, string> = poolMax ? { PAYSTREAM_DATABASE_POOL_MAX: poolMax } : {};
const runId = randomBytes(4).toString('hex');

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// Latency statistics: every latency kept, sorted once (exact percentiles, nearest rank).

interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  minMs: number;
}

function summarize(latencies: number[]): LatencySummary {
  const sorted = Float64Array.from(latencies).sort();
  const n = sorted.length;
  const at = (p: number) =>
    n === 0 ? Number.NaN : sorted[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: n,
    meanMs: n ? sum / n : Number.NaN,
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    p999Ms: at(0.999),
    maxMs: n ? sorted[n - 1]! : Number.NaN,
    minMs: n ? sorted[0]! : Number.NaN,
  };
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc (Linux): where the machine's two cores go during the measured window.

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface Cpu {
  user: number;
  sys: number;
}

/** utime and stime (all threads) of a process in ms, or undefined when it is gone / not Linux. */
function procCpu(pid: number): Cpu | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    return { user: (Number(fields[11]) * 1000) / clockTicks, sys: (Number(fields[12]) * 1000) / clockTicks };
  } catch {
    return undefined;
  }
}

function postgresPids(): number[] {
  const pids: number[] = [];
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') pids.push(Number(entry));
      } catch {
        // gone
      }
    }
  } catch {
    // not Linux
  }
  return pids;
}

/** Busy and total CPU ms of the whole machine (all cores). */
function machineCpu(): { total: number; busy: number } | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
    return { total: (total * 1000) / clockTicks, busy: ((total - idle) * 1000) / clockTicks };
  } catch {
    return undefined;
  }
}

interface CpuSnapshot {
  at: number;
  parts: Map<string, Cpu>;
  postgres: Map<number, Cpu>;
  machine: { total: number; busy: number } | undefined;
}

function cpuSnapshot(processes: Record<string, number | 'self'>): CpuSnapshot {
  const parts = new Map<string, Cpu>();
  for (const [label, pid] of Object.entries(processes)) {
    if (pid === 'self') {
      const u = process.cpuUsage();
      parts.set(label, { user: u.user / 1000, sys: u.system / 1000 });
    } else {
      const c = procCpu(pid);
      if (c) parts.set(label, c);
    }
  }
  const postgres = new Map<number, Cpu>();
  for (const pid of postgresPids()) {
    const c = procCpu(pid);
    if (c) postgres.set(pid, c);
  }
  return { at: performance.now(), parts, postgres, machine: machineCpu() };
}

interface CpuPart {
  /** CPU ms (user + kernel) used in the window per completed payment. */
  perPaymentMs: number;
  /** Share of that spent in the kernel (system time). */
  kernelShare: number;
  /** Average number of cores kept busy (1.0 = one core). */
  cores: number;
}

interface CpuUsage {
  parts: Record<string, CpuPart>;
  /** Whole-machine busy share, 0..1 over all cores. */
  machineBusy: number | undefined;
}

/** `perSecond`: the payment rate of the measured window (the snapshots' span is within a few ms of it). */
function cpuUsage(a: CpuSnapshot, b: CpuSnapshot, perSecond: number): CpuUsage {
  const wallMs = b.at - a.at;
  const payments = (perSecond * wallMs) / 1000;
  const used = new Map<string, Cpu>();
  for (const [label, end] of b.parts) {
    const start = a.parts.get(label);
    if (start) used.set(label, { user: end.user - start.user, sys: end.sys - start.sys });
  }
  const pg: Cpu = { user: 0, sys: 0 };
  for (const [pid, end] of b.postgres) {
    const start = a.postgres.get(pid) ?? end;
    pg.user += end.user - start.user;
    pg.sys += end.sys - start.sys;
  }
  // Background PostgreSQL activity (checkpointer...) during a SQLite phase is not worth a row.
  if (pg.user + pg.sys > 0.005 * wallMs) used.set('postgres (all processes)', pg);
  let known = 0;
  for (const c of used.values()) known += c.user + c.sys;
  if (a.machine && b.machine) {
    const rest = b.machine.busy - a.machine.busy - known;
    used.set('everything else on the machine', { user: Math.max(0, rest), sys: 0 });
  }
  const parts: Record<string, CpuPart> = {};
  for (const [label, c] of used) {
    const total = c.user + c.sys;
    parts[label] = {
      perPaymentMs: payments ? total / payments : Number.NaN,
      kernelShare: label.startsWith('everything else') || total === 0 ? Number.NaN : c.sys / total,
      cores: total / wallMs,
    };
  }
  const machineBusy =
    a.machine && b.machine
      ? (b.machine.busy - a.machine.busy) / Math.max(1, b.machine.total - a.machine.total)
      : undefined;
  return { parts, machineBusy };
}

// ---------------------------------------------------------------------------------------------
// Load driver: C workers, each running `op` back to back. Only operations that END inside the
// measured window count; latencies are those of the counted operations.

interface DriveResult {
  /** Successful operations ending in the measured window. */
  ok: number;
  errors: Record<string, number>;
  errorCount: number;
  windowMs: number;
  perSecond: number;
  latency: LatencySummary;
  /** Every successful operation of the phase (warm-up and the tail included), for the sanity check. */
  okTotal: number;
  errorTotal: number;
  cpu: CpuUsage | undefined;
  /** Each second of the measured window: payments completed and the slowest one (ms). */
  timeline: Array<{ payments: number; maxMs: number }>;
}

type Op = () => Promise<string | null>;

async function drive(
  op: Op,
  options: {
    concurrency: number;
    warmupMs: number;
    measureMs: number;
    onWindowStart?: () => void;
    onWindowEnd?: () => void;
    /** Processes whose CPU time is measured over the window, by label ('self': this process). */
    cpu?: Record<string, number | 'self'>;
  },
): Promise<DriveResult> {
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let ok = 0;
  let errorCount = 0;
  let okTotal = 0;
  let errorTotal = 0;
  const timeline = Array.from({ length: Math.max(1, Math.ceil(options.measureMs / 1000)) }, () => ({
    payments: 0,
    maxMs: 0,
  }));
  const start = performance.now();
  const windowStart = start + options.warmupMs;
  const windowEnd = windowStart + options.measureMs;
  let before: CpuSnapshot | undefined;
  let after: CpuSnapshot | undefined;
  // CPU snapshots at the window's edges: from a timer, or from the first worker to notice the edge
  // when the event loop is too busy for the timer to fire on time (whichever comes first).
  const markStart = () => {
    if (before) return;
    options.onWindowStart?.();
    before = cpuSnapshot(options.cpu ?? {});
  };
  const markEnd = () => {
    if (after || !before) return;
    after = cpuSnapshot(options.cpu ?? {});
    options.onWindowEnd?.();
  };
  const startTimer = setTimeout(markStart, options.warmupMs);
  const endTimer = setTimeout(markEnd, options.warmupMs + options.measureMs);

  const worker = async () => {
    while (performance.now() < windowEnd) {
      const t0 = performance.now();
      let failure: string | null;
      try {
        failure = await op();
      } catch (error) {
        failure = `exception: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      }
      const t1 = performance.now();
      if (t1 >= windowStart) markStart();
      if (t1 >= windowEnd) markEnd();
      const counted = t1 >= windowStart && t1 <= windowEnd;
      if (failure === null) {
        okTotal += 1;
        if (counted) {
          ok += 1;
          latencies.push(t1 - t0);
          const second = timeline[Math.min(timeline.length - 1, Math.floor((t1 - windowStart) / 1000))]!;
          second.payments += 1;
          second.maxMs = Math.max(second.maxMs, t1 - t0);
        }
      } else {
        errorTotal += 1;
        if (counted) {
          errorCount += 1;
          errors[failure] = (errors[failure] ?? 0) + 1;
        } else {
          errors[`(outside window) ${failure}`] = (errors[`(outside window) ${failure}`] ?? 0) + 1;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  markEnd();
  const windowMs = options.measureMs;
  const perSecond = ok / (windowMs / 1000);
  const cpu = options.cpu && before && after ? cpuUsage(before, after, perSecond) : undefined;
  return {
    ok,
    errors,
    errorCount,
    windowMs,
    perSecond,
    latency: summarize(latencies),
    okTotal,
    errorTotal,
    cpu,
    timeline,
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL helpers

const benchTables = ['payments', 'idempotency_records', 'outbox', 'api_keys'];

interface VacuumLog {
  runs: number;
  totalMs: number;
  maxMs: number;
  failures: string[];
}

/** VACUUM (ANALYZE) of the bench tables from its own connection: once now, then every interval. */
class Vacuumer {
  readonly #client: pg.Client;
  readonly log: VacuumLog = { runs: 0, totalMs: 0, maxMs: 0, failures: [] };
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(url: string) {
    this.#client = new pg.Client({ connectionString: url });
  }

  async connect(): Promise<void> {
    await this.#client.connect();
  }

  async once(): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = (async () => {
      const t0 = performance.now();
      try {
        await this.#client.query(`VACUUM (ANALYZE) ${benchTables.join(', ')}`);
        const ms = performance.now() - t0;
        this.log.runs += 1;
        this.log.totalMs += ms;
        this.log.maxMs = Math.max(this.log.maxMs, ms);
      } catch (error) {
        this.log.failures.push(error instanceof Error ? error.message : String(error));
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.once(), intervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#running) await this.#running;
    await this.#client.end();
  }
}

function withDatabase(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

async function adminQuery(adminUrl: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

async function createDatabase(adminUrl: string, suffix: string): Promise<string> {
  const name = `paystream_bench_${runId}${suffix}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  return name;
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

// ---------------------------------------------------------------------------------------------
// Child processes

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // paystream refuses unknown PAYSTREAM_* variables: pass only the ones set here.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PAYSTREAM_')) env[k] = v;
  return { ...env, ...extra };
}

interface Child {
  proc: ChildProcess;
  pid: number;
  /** Everything it wrote after its banner (warn-level logs, errors). */
  output: string[];
  stop(): Promise<number | null>;
}

/** Spawns node <args> and waits for a stdout line matching `ready`; returns the match. */
async function spawnUntil(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  label: string,
): Promise<{ child: Child; match: RegExpExecArray }> {
  const proc = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) => {
    proc.on('exit', (code, signal) => {
      exited = code ?? (signal ? -1 : null);
      resolve(exited);
    });
  });
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    let buffered = '';
    let found = false;
    const timer = setTimeout(() => reject(new Error(`${label} did not start in 60 s:\n${buffered}`)), 60_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      if (found) {
        output.push(text);
        return;
      }
      buffered += text;
      const m = ready.exec(buffered);
      if (m) {
        found = true;
        clearTimeout(timer);
        resolve(m);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (chunk: Buffer) => {
      if (found) output.push(chunk.toString());
      else buffered += chunk.toString();
    });
    void exit.then((code) => {
      if (!found) {
        clearTimeout(timer);
        reject(new Error(`${label} exited (${code}) before it was ready:\n${buffered}`));
      }
    });
  });
  const child: Child = {
    proc,
    pid: proc.pid!,
    output,
    async stop() {
      if (exited !== undefined) return exited;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
  };
  return { child, match };
}

function createKey(env: NodeJS.ProcessEnv): string {
  const out = execFileSync(process.execPath, [cli, 'keys', 'create', '--name', 'bench'], {
    cwd: root,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const secret = out.trim().split('\n').pop()!.trim();
  if (!/^sk_test_/.test(secret)) throw new Error(`keys create printed no secret: ${out}`);
  return secret;
}

// ---------------------------------------------------------------------------------------------
// Phases

type Mode = 'embedded' | 'postgres';

interface Sanity {
  payments: number;
  succeeded: number;
  processing: number;
  outbox: number;
  idempotencyCompleted: number;
  clientSucceeded: number;
  ok: boolean;
  note: string;
}

interface PhaseResult {
  mode: Mode;
  phase: 'api' | 'reference';
  /** Concurrent clients (API) or workers (reference). */
  concurrency: number;
  description: string;
  result: DriveResult;
  sanity: Sanity;
  vacuum: VacuumLog | undefined;
  details: Record<string, unknown>;
}

function sanityOf(
  counts: { payments: number; succeeded: number; processing: number; outbox: number; completed: number },
  clientSucceeded: number,
): Sanity {
  const ok =
    counts.outbox === counts.succeeded &&
    counts.succeeded === clientSucceeded &&
    counts.processing === 0 &&
    counts.completed === counts.payments;
  return {
    payments: counts.payments,
    succeeded: counts.succeeded,
    processing: counts.processing,
    outbox: counts.outbox,
    idempotencyCompleted: counts.completed,
    clientSucceeded,
    ok,
    note: ok
      ? 'outbox rows == succeeded payments == successes seen by the clients; none left processing'
      : 'MISMATCH: see the numbers',
  };
}

async function countsOfStore(store: Store) {
  const n = async (q: Promise<{ n: string | number | bigint } | undefined>) => Number((await q)?.n ?? 0);
  const db = store.db;
  return {
    payments: await n(
      db
        .selectFrom('payments')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst(),
    ),
    succeeded: await n(
      db
        .selectFrom('payments')
        .where('status', '=', 'succeeded')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst(),
    ),
    processing: await n(
      db
        .selectFrom('payments')
        .where('status', '=', 'processing')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst(),
    ),
    outbox: await n(
      db
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst(),
    ),
    completed: await n(
      db
        .selectFrom('idempotency_records')
        .where('state', '=', 'completed')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst(),
    ),
  };
}

function paymentBody(i: number): string {
  return JSON.stringify({
    customer_id: `cus_bench_${i % customers}`,
    amount: 100 + (i % 9900),
    currency: 'usd',
    payment_method: 'pm_card_visa',
    description: 'bench payment',
    metadata: { order: `ord_${i}` },
  });
}

async function apiPhase(mode: Mode, pgAdminUrl: string): Promise<PhaseResult> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `paystream-bench-${mode}-`));
  const dbName = mode === 'postgres' ? await createDatabase(pgAdminUrl, '') : undefined;
  const databaseUrl = dbName ? withDatabase(pgAdminUrl, dbName) : undefined;
  const baseEnv: Record<string, string> = {
    PAYSTREAM_DATA_DIR: dataDir,
    PAYSTREAM_LOG_LEVEL: 'warn',
    PAYSTREAM_PORT: '0',
    PAYSTREAM_GATEWAY_PORT: '0',
    ...(databaseUrl ? { PAYSTREAM_DATABASE_URL: databaseUrl } : {}),
    ...sharedSettings,
  };
  const children: Child[] = [];
  let vacuumer: Vacuumer | undefined;
  try {
    const separateSandbox = (mode === 'postgres' ? pgSandbox : embeddedSandbox) === 'separate';
    let sandbox: Child | undefined;
    if (separateSandbox) {
      const s = await spawnUntil(
        [cli, 'gateway', '--port', '0'],
        childEnv({ PAYSTREAM_DATA_DIR: path.join(dataDir, 'gateway'), PAYSTREAM_LOG_LEVEL: 'warn' }),
        /sandbox gateway on (http:\/\/\S+)/,
        'sandbox gateway',
      );
      sandbox = s.child;
      children.push(sandbox);
      baseEnv['PAYSTREAM_GATEWAY_URL'] = s.match[1]!;
    }
    const env = childEnv(baseEnv);
    const secret = createKey(env);
    const nodeArgs: string[] = [];
    const instrumentFile = path.join(dataDir, 'instrument.json');
    if (opts.whatif) {
      nodeArgs.push('--import', path.join(root, 'bench', 'whatif.ts'));
      env['BENCH_WHATIF'] = opts.whatif;
    }
    if (opts.instrument) {
      nodeArgs.push('--import', path.join(root, 'bench', 'instrument.ts'));
      env['BENCH_INSTRUMENT_OUT'] = instrumentFile;
    }
    if (opts['cpu-prof']) {
      const dir = path.join(opts.out, `cpuprof-${runId}`);
      mkdirSync(dir, { recursive: true });
      nodeArgs.push('--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${mode}-api-\${pid}.cpuprofile`);
    }
    const { child, match } = await spawnUntil(
      [...nodeArgs, cli, 'start'],
      env,
      /API on (http:\/\/[^\s,]+)/,
      `paystream (${mode})`,
    );
    children.push(child);
    const url = match[1]!;
    log(`${mode}: paystream pid ${child.pid} on ${url}${sandbox ? `, sandbox pid ${sandbox.pid}` : ''}`);

    if (databaseUrl) {
      vacuumer = new Vacuumer(databaseUrl);
      await vacuumer.connect();
      await vacuumer.once();
      vacuumer.start(vacuumIntervalMs);
    }

    const pool = new Pool(url, {
      connections: concurrency,
      pipelining: 1,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    let seq = 0;
    const authorization = `Bearer ${secret}`;
    const op: Op = async () => {
      const i = seq++;
      const res = await pool.request({
        method: 'POST',
        path: '/v1/payments',
        headers: {
          authorization,
          'content-type': 'application/json',
          'idempotency-key': `bench-${runId}-${i}`,
        },
        body: paymentBody(i),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) {
        let code = '';
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '';
        } catch {
          code = text.slice(0, 80);
        }
        return `HTTP ${res.statusCode} ${code}`;
      }
      const status = (JSON.parse(text) as { status?: string }).status;
      return status === 'succeeded' ? null : `200 with status ${status}`;
    };
    log(`${mode}: API phase, ${concurrency} clients, ${warmupSeconds} s warm-up + ${measureSeconds} s`);
    const signalChild = () => {
      if (opts.instrument) child.proc.kill('SIGUSR2');
    };
    const result = await drive(op, {
      concurrency,
      warmupMs: warmupSeconds * 1000,
      measureMs: measureSeconds * 1000,
      onWindowStart: signalChild,
      onWindowEnd: signalChild,
      cpu: {
        'load generator (bench)': 'self',
        'paystream process': child.pid,
        ...(sandbox ? { 'sandbox gateway process': sandbox.pid } : {}),
      },
    });
    await pool.close();
    if (vacuumer) await vacuumer.stop();

    const exitCode = await child.stop();
    let instrument: unknown;
    if (opts.instrument) {
      try {
        instrument = JSON.parse(readFileSync(instrumentFile, 'utf8'));
      } catch (error) {
        instrument = { error: String(error) };
      }
    }
    // The child's store is closed: count straight from the database.
    let counts: Awaited<ReturnType<typeof countsOfStore>>;
    const store = openStore(
      { databaseUrl, sqlitePath: path.join(dataDir, 'paystream.sqlite'), databasePoolMax: 2 },
      migrationSets,
    );
    try {
      counts = await countsOfStore(store);
    } finally {
      await store.close();
    }
    if (sandbox) await sandbox.stop();
    return {
      mode,
      phase: 'api',
      concurrency,
      description:
        mode === 'embedded'
          ? `POST /v1/payments over HTTP to \`paystream start\` (SQLite, ${
              separateSandbox ? 'sandbox gateway in a separate process' : 'in-process sandbox gateway'
            })`
          : `POST /v1/payments over HTTP to \`paystream start\` (PostgreSQL, ${
              separateSandbox ? 'sandbox gateway in a separate process' : 'in-process sandbox gateway'
            })`,
      result,
      sanity: sanityOf(counts, result.okTotal),
      vacuum: vacuumer?.log,
      details: {
        sandbox: separateSandbox ? 'separate process' : 'in-process',
        databasePoolMax: loadConfig(childEnv(baseEnv)).databasePoolMax,
        childExitCode: exitCode,
        ...(instrument ? { instrument } : {}),
        childOutput: children
          .flatMap((c) => c.output)
          .join('')
          .trim()
          .split('\n')
          .filter(Boolean)
          .slice(0, 50),
      },
    };
  } finally {
    for (const c of children) await c.stop().catch(() => undefined);
    if (dbName) await dropDatabase(pgAdminUrl, dbName).catch((e) => log(`drop ${dbName} failed: ${e}`));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Never called: the reference settles with a fixed outcome instead of asking a gateway. */
const noGateway: Gateway = {
  charge: () => Promise.reject(new Error('no gateway in the reference phase')),
  findCharge: () => Promise.reject(new Error('no gateway in the reference phase')),
  refund: () => Promise.reject(new Error('no gateway in the reference phase')),
  findRefund: () => Promise.reject(new Error('no gateway in the reference phase')),
  close: () => Promise.resolve(),
};

async function referencePhase(mode: Mode, pgAdminUrl: string): Promise<PhaseResult> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `paystream-bench-ref-${mode}-`));
  const dbName = mode === 'postgres' ? await createDatabase(pgAdminUrl, '_ref') : undefined;
  const databaseUrl = dbName ? withDatabase(pgAdminUrl, dbName) : undefined;
  let vacuumer: Vacuumer | undefined;
  // The same configuration path as the server: default pool size, the SQLite file under the data dir.
  const config = loadConfig({
    PAYSTREAM_DATA_DIR: dataDir,
    ...(databaseUrl ? { PAYSTREAM_DATABASE_URL: databaseUrl } : {}),
    ...sharedSettings,
  });
  const store = openStore(config, migrationSets);
  try {
    await store.migrate();
    const details: Record<string, unknown> = { databasePoolMax: config.databasePoolMax };
    if (store.dialect === 'sqlite') {
      const row = (await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(store.db)).rows[0];
      const jm = (await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(store.db)).rows[0];
      details['sqliteSynchronous'] = row?.synchronous === 2 ? 'FULL (2)' : String(row?.synchronous);
      details['sqliteJournalMode'] = jm?.journal_mode;
      details['groupCommit'] = 'SqliteStore default (up to 256 transactions per COMMIT)';
    }
    const clock = systemClock;
    const ids = new IdGenerator(clock);
    const keys = new ApiKeys(store, ids, clock);
    const { key } = await keys.create({ name: 'bench reference' });
    const service = new PaymentService({ store, gateway: noGateway, ids, clock });

    if (databaseUrl) {
      vacuumer = new Vacuumer(databaseUrl);
      await vacuumer.connect();
      await vacuumer.once();
      vacuumer.start(vacuumIntervalMs);
    }

    const writes = paymentWritesFor(store, new OutboxWriter(ids, clock));
    let seq = 0;
    const op: Op = async () => {
      const i = seq++;
      const body = paymentBody(i);
      const parsed = JSON.parse(body) as {
        customer_id: string;
        amount: number;
        metadata: Record<string, string>;
      };
      const scope = {
        merchantId: key.merchantId,
        livemode: key.livemode,
        apiKeyId: key.id,
        key: `bench-${runId}-ref-${i}`,
        fingerprint: requestFingerprint('POST', '/v1/payments', parsed),
      };
      const payment = newProcessingPayment(
        ids.resource('pay'),
        { merchantId: key.merchantId, livemode: false },
        {
          customerId: parsed.customer_id,
          amount: BigInt(parsed.amount),
          currency: 'usd',
          paymentMethod: 'pm_card_visa',
          description: 'bench payment',
          metadata: parsed.metadata,
        },
        clock.now(),
      );
      // txn1: claim the key + insert the payment `processing`, with the service's own write.
      const claim = await writes.claim(scope, payment);
      if (claim.kind !== 'started') return 'idempotency replay';
      // txn2: conditional update to succeeded + outbox event + key's response (the service's own code).
      const settled = await service.settlePayment(payment, {
        status: 'succeeded',
        chargeId: ids.resource('ch'),
      });
      return settled.status === 'succeeded' ? null : `settled as ${settled.status}`;
    };
    log(`${mode}: reference phase, ${concurrency} workers, ${warmupSeconds} s warm-up + ${measureSeconds} s`);
    const result = await drive(op, {
      concurrency,
      warmupMs: warmupSeconds * 1000,
      measureMs: measureSeconds * 1000,
      cpu: { 'bench process (store + workers)': 'self' },
    });
    const vacuumLog = vacuumer?.log;
    if (vacuumer) await vacuumer.stop();
    vacuumer = undefined;
    const counts = await countsOfStore(store);
    return {
      mode,
      phase: 'reference',
      concurrency,
      description:
        mode === 'embedded'
          ? 'txn1 + txn2 of a payment run in-process on SqliteStore (group commit, synchronous=FULL), fresh file'
          : `txn1 + txn2 of a payment run in-process on PostgresStore (pool of ${config.databasePoolMax}), fresh database`,
      result,
      sanity: sanityOf(counts, result.okTotal),
      vacuum: vacuumLog,
      details,
    };
  } finally {
    if (vacuumer) await vacuumer.stop().catch(() => undefined);
    await store.close();
    if (dbName) await dropDatabase(pgAdminUrl, dbName).catch((e) => log(`drop ${dbName} failed: ${e}`));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Machine

async function machine(pgAdminUrl: string, withPostgres: boolean): Promise<Record<string, unknown>> {
  const mem = new DatabaseSync(':memory:');
  const sqliteVersion = (mem.prepare('select sqlite_version() as v').get() as { v: string }).v;
  mem.close();
  let nproc: number | string = os.availableParallelism();
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    // keep availableParallelism
  }
  let gitCommit = 'unknown';
  let gitDirty = false;
  try {
    gitCommit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    gitDirty =
      execFileSync('git', ['status', '--porcelain', 'src'], { cwd: root, encoding: 'utf8' }).trim() !== '';
  } catch {
    // not a git checkout
  }
  let postgresVersion: string | undefined;
  let postgresSettings: Record<string, string> | undefined;
  if (withPostgres) {
    postgresVersion = (await adminQuery(pgAdminUrl, 'select version() as v')).rows[0].v as string;
    const rows = (
      await adminQuery(
        pgAdminUrl,
        `select name, setting from pg_settings where name in
         ('autovacuum','fsync','synchronous_commit','wal_sync_method','shared_buffers','max_connections','commit_delay')`,
      )
    ).rows as Array<{ name: string; setting: string }>;
    postgresSettings = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  }
  return {
    nproc,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    nodePath: process.execPath,
    sqliteVersion,
    postgresVersion,
    postgresSettings,
    tmpdir: os.tmpdir(),
    gitCommit,
    srcHasUncommittedChanges: gitDirty,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (n: number, digits = 1) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';
const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');

interface Target {
  mode: Mode;
  name: string;
  measured: string;
  pass: boolean;
}

function targets(results: PhaseResult[]): Target[] {
  const out: Target[] = [];
  for (const c of [...new Set(results.map((r) => r.concurrency))]) {
    const find = (mode: Mode, phase: 'api' | 'reference') =>
      results.find((r) => r.mode === mode && r.phase === phase && r.concurrency === c);
    const pgApi = find('postgres', 'api');
    const pgRef = find('postgres', 'reference');
    if (pgApi && pgRef) {
      const ratio = pgApi.result.perSecond / pgRef.result.perSecond;
      out.push({
        mode: 'postgres',
        name: `PostgreSQL, ${c} clients: API payments/s >= 50% of the reference`,
        measured: `${fmtInt(pgApi.result.perSecond)} / ${fmtInt(pgRef.result.perSecond)} = ${fmt(ratio * 100)}%`,
        pass: ratio >= 0.5,
      });
      out.push({
        mode: 'postgres',
        name: `PostgreSQL, ${c} clients: API p99 <= 50 ms`,
        measured: `${fmt(pgApi.result.latency.p99Ms)} ms`,
        pass: pgApi.result.latency.p99Ms <= 50,
      });
    }
    const emApi = find('embedded', 'api');
    if (emApi) {
      out.push({
        mode: 'embedded',
        name: `Embedded, ${c} clients: API >= 2,000 payments/s (fsync per commit, group commit allowed)`,
        measured: `${fmt(emApi.result.perSecond)} payments/s`,
        pass: emApi.result.perSecond >= 2000,
      });
    }
  }
  return out;
}

function markdown(report: {
  date: string;
  command: string;
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
  results: PhaseResult[];
  targets: Target[];
  startedAt: string;
  durationS: number;
}): string {
  const m = report.machine;
  const lines: string[] = [];
  const ref = (mode: Mode, c: number) =>
    report.results.find((r) => r.mode === mode && r.phase === 'reference' && r.concurrency === c);
  lines.push(`# paystream API benchmark, ${report.date}`, '');
  lines.push(
    `Command: \`${report.command}\` (started ${report.startedAt}, took ${fmtInt(report.durationS)} s). ` +
      `Produced by bench/api.ts; how to read it: bench/README.md.`,
    '',
  );
  if (report.settings['whatif'] !== 'none') {
    lines.push(
      `> **What-if run (\`--whatif ${report.settings['whatif']}\`)**: the paystream process was patched in memory ` +
        'by bench/whatif.ts. These are NOT the benchmark figures of the code as it is.',
      '',
    );
  }
  lines.push('## Results', '');
  lines.push(
    `Clients ${report.settings['concurrency']}; each phase ${report.settings['warmupSeconds']} s warm-up + ` +
      `${report.settings['measureSeconds']} s measured. A payment counts when it ends inside the measured window ` +
      `(API: HTTP 200 with \`status: succeeded\`; reference: txn1 + txn2 committed). Latency = one whole payment.`,
    '',
  );
  lines.push(
    '| Mode | Phase | Clients | payments/s | p50 ms | p90 ms | p99 ms | max ms | errors | API / reference |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of report.results) {
    const l = r.result.latency;
    const rf = ref(r.mode, r.concurrency);
    const ratio = r.phase === 'api' && rf ? `${fmt((r.result.perSecond / rf.result.perSecond) * 100)}%` : '';
    lines.push(
      `| ${r.mode} | ${r.phase} | ${r.concurrency} | ${fmtInt(r.result.perSecond)} | ${fmt(l.p50Ms)} | ${fmt(l.p90Ms)} | ${fmt(
        l.p99Ms,
      )} | ${fmt(l.maxMs)} | ${r.result.errorCount} | ${ratio} |`,
    );
  }
  lines.push('');
  lines.push(
    'Payments completed in each second of the measured window (min / median / max over the seconds; a dip ' +
      'shows a stall or noise from elsewhere on the machine):',
    '',
  );
  for (const r of report.results) {
    const per = r.result.timeline.map((t) => t.payments).sort((a, b) => a - b);
    const med = per[Math.floor((per.length - 1) / 2)] ?? 0;
    lines.push(
      `- ${r.mode} ${r.phase} (${r.concurrency}): ${per[0] ?? 0} / ${med} / ${per[per.length - 1] ?? 0}`,
    );
  }
  lines.push('');
  lines.push('## Targets', '');
  lines.push('| Target | Measured | Result |');
  lines.push('|---|---|---|');
  for (const t of report.targets)
    lines.push(`| ${t.name} | ${t.measured} | **${t.pass ? 'PASS' : 'FAIL'}** |`);
  lines.push('');
  lines.push('## Where the CPU went (measured window)', '');
  lines.push(
    'CPU time (user + kernel, from /proc, all threads) of each process during the measured window, divided by ' +
      'the payments completed in it; "cores busy" is the same as a share of one core. "everything else" is the ' +
      "machine's busy time not accounted to those processes (other work on the machine, interrupts). " +
      `The machine has ${m['nproc']} cores.`,
    '',
  );
  lines.push('| Mode | Phase | Process | CPU ms / payment | of which kernel | cores busy | machine busy |');
  lines.push('|---|---|---|---:|---:|---:|---:|');
  for (const r of report.results) {
    const cpu = r.result.cpu;
    if (!cpu) continue;
    const busy = cpu.machineBusy === undefined ? 'n/a' : `${fmt(cpu.machineBusy * 100, 0)}%`;
    for (const [k, v] of Object.entries(cpu.parts)) {
      const kernel = Number.isFinite(v.kernelShare) ? `${fmt(v.kernelShare * 100, 0)}%` : '';
      lines.push(
        `| ${r.mode} | ${r.phase} (${r.concurrency}) | ${k} | ${fmt(v.perPaymentMs, 3)} | ${kernel} | ${fmt(v.cores, 2)} | ${busy} |`,
      );
    }
  }
  lines.push('');
  const instrumented = report.results.filter((r) => r.details['instrument']);
  if (instrumented.length) {
    lines.push('## Stage timings inside paystream (--instrument)', '');
    lines.push(
      'Wall time of each wrapped call during the measured window (bench/instrument.ts). The wrappers add a ' +
        'little overhead: compare these with each other, not with an uninstrumented run.',
      '',
    );
    const sqliteNotes: string[] = [];
    lines.push('| Mode | Stage | calls | mean ms | p50 ms | p99 ms | max ms |');
    lines.push('|---|---|---:|---:|---:|---:|---:|');
    for (const r of instrumented) {
      const inst = r.details['instrument'] as {
        stages?: Record<
          string,
          { calls: number; meanMs: number; p50Ms: number; p99Ms: number; maxMs: number }
        >;
        eventLoopDelayMs?: { mean: number; p50: number; p99: number; max: number };
        sqliteStatements?: Record<string, { calls: number; totalMs: number; maxMs: number }>;
      };
      for (const [stage, st] of Object.entries(inst.stages ?? {})) {
        lines.push(
          `| ${r.mode} | ${stage} | ${st.calls} | ${fmt(st.meanMs, 2)} | ${fmt(st.p50Ms, 2)} | ${fmt(st.p99Ms, 2)} | ${fmt(
            st.maxMs,
            1,
          )} |`,
        );
      }
      const stmts = inst.sqliteStatements ?? {};
      const payments = r.result.perSecond * (r.result.windowMs / 1000);
      for (const [k, st] of Object.entries(stmts)) {
        lines.push(
          `| ${r.mode} | node:sqlite ${k} (synchronous, blocks the event loop) | ${st.calls} | ${fmt(
            st.totalMs / st.calls,
            3,
          )} | | | ${fmt(st.maxMs, 1)} |`,
        );
        sqliteNotes.push(
          `${r.mode}: ${k}: ${fmt(st.totalMs)} ms in the window = ${fmt((st.totalMs / payments) * 1000, 1)} µs per payment, ${fmt(
            st.calls / payments,
            2,
          )} calls per payment`,
        );
      }
      const d = inst.eventLoopDelayMs;
      if (d) {
        lines.push(
          `| ${r.mode} | event-loop delay (monitorEventLoopDelay) | | ${fmt(d.mean, 2)} | ${fmt(d.p50, 2)} | ${fmt(
            d.p99,
            2,
          )} | ${fmt(d.max, 1)} |`,
        );
      }
    }
    lines.push('');
    if (sqliteNotes.length) {
      lines.push('Synchronous SQLite time per payment (measured window):', '');
      for (const n of sqliteNotes) lines.push(`- ${n}`);
      lines.push('');
    }
  }
  lines.push('## Sanity checks', '');
  lines.push(
    '| Mode | Phase | payments | succeeded | processing | outbox rows | keys completed | client successes | OK |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---|');
  for (const r of report.results) {
    const s = r.sanity;
    lines.push(
      `| ${r.mode} | ${r.phase} (${r.concurrency}) | ${s.payments} | ${s.succeeded} | ${s.processing} | ${s.outbox} | ${
        s.idempotencyCompleted
      } | ${s.clientSucceeded} | ${s.ok ? 'yes' : '**NO**'} |`,
    );
  }
  lines.push('');
  lines.push(
    'Counts cover the whole phase (warm-up and the requests finishing after the window too). ' +
      '"client successes" are the 200/succeeded answers the load generator saw over the whole phase.',
    '',
  );
  const errs = report.results.filter((r) => Object.keys(r.result.errors).length > 0);
  if (errs.length) {
    lines.push('### Errors', '');
    for (const r of errs) {
      for (const [k, v] of Object.entries(r.result.errors))
        lines.push(`- ${r.mode} ${r.phase} (${r.concurrency}): ${v} × ${k}`);
    }
    lines.push('');
  } else {
    lines.push('No errors in any phase.', '');
  }
  lines.push('## Setup', '');
  for (const r of report.results)
    lines.push(`- **${r.mode} ${r.phase} (${r.concurrency})**: ${r.description}.`);
  lines.push('');
  const vac = report.results.filter((r) => r.mode === 'postgres');
  if (vac.length) {
    lines.push(
      `- PostgreSQL runs with autovacuum=${String(
        (m['postgresSettings'] as Record<string, string> | undefined)?.['autovacuum'],
      )}: the bench ran \`VACUUM (ANALYZE) ${benchTables.join(', ')}\` from a separate connection before ` +
        `each PostgreSQL phase and every ${report.settings['vacuumIntervalSeconds']} s during it.`,
    );
    for (const r of vac) {
      const v = r.vacuum;
      if (v) {
        lines.push(
          `  - ${r.phase}: ${v.runs} VACUUM runs, longest ${fmt(v.maxMs)} ms${
            v.failures.length ? `, ${v.failures.length} failed: ${v.failures[0]}` : ''
          }.`,
        );
      }
    }
    lines.push('- Each PostgreSQL phase used its own freshly created database, dropped afterwards.');
  }
  if (report.results.some((r) => r.mode === 'embedded')) {
    lines.push(
      '- SQLite (embedded): WAL, `synchronous=FULL` (fsync at every COMMIT), SqliteStore group commit; ' +
        'no VACUUM (not applicable). Each phase used a fresh temp directory.',
    );
  }
  lines.push('');
  lines.push('## Machine', '');
  lines.push('| | |', '|---|---|');
  const row = (k: string, v: unknown) => lines.push(`| ${k} | ${v === undefined ? 'n/a' : String(v)} |`);
  row('nproc', m['nproc']);
  row('CPU', m['cpuModel']);
  row('memory', `${m['memoryGiB']} GiB`);
  row('load average at start', (m['loadAverageAtStart'] as number[]).join(', '));
  row('OS', m['platform']);
  row('node', m['node']);
  row('SQLite (node:sqlite)', m['sqliteVersion']);
  row('PostgreSQL', m['postgresVersion']);
  if (m['postgresSettings']) {
    row(
      'PostgreSQL settings',
      Object.entries(m['postgresSettings'] as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(', '),
    );
  }
  row('temp dir (SQLite files)', m['tmpdir']);
  row(
    'git commit',
    `${m['gitCommit']}${m['srcHasUncommittedChanges'] ? ' (src/ has uncommitted changes)' : ''}`,
  );
  lines.push('');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const started = new Date();
  const t0 = performance.now();
  const pgAdminUrl = opts['pg-url'];
  const command = `node bench/api.ts ${process.argv.slice(2).join(' ')}`.trim();
  log(`run ${runId}: ${command}`);
  const info = await machine(pgAdminUrl, modes.includes('postgres'));
  const results: PhaseResult[] = [];
  for (const mode of modes as Mode[])
    for (const c of concurrencies) {
      concurrency = c;
      const api = await apiPhase(mode, pgAdminUrl);
      log(
        `${mode} api: ${fmtInt(api.result.perSecond)} payments/s, p50 ${fmt(api.result.latency.p50Ms)} ms, p99 ${fmt(
          api.result.latency.p99Ms,
        )} ms, errors ${api.result.errorCount}, sanity ${api.sanity.ok ? 'ok' : 'MISMATCH'}`,
      );
      results.push(api);
      const ref = await referencePhase(mode, pgAdminUrl);
      log(
        `${mode} reference: ${fmtInt(ref.result.perSecond)} payments/s, p50 ${fmt(ref.result.latency.p50Ms)} ms, p99 ${fmt(
          ref.result.latency.p99Ms,
        )} ms, errors ${ref.result.errorCount}, sanity ${ref.sanity.ok ? 'ok' : 'MISMATCH'}`,
      );
      results.push(ref);
    }
  const date = `${started.getFullYear()}-${String(started.getMonth() + 1).padStart(2, '0')}-${String(
    started.getDate(),
  ).padStart(2, '0')}`;
  const settings = {
    concurrency: concurrencies.join(', '),
    warmupSeconds,
    measureSeconds,
    customers,
    modes,
    pgSandbox,
    embeddedSandbox,
    databasePoolMax: poolMax ? Number(poolMax) : 'default (10)',
    instrument: opts.instrument,
    whatif: opts.whatif ?? 'none',
    vacuumIntervalSeconds: vacuumIntervalMs / 1000,
    vacuum: modes.includes('postgres')
      ? 'VACUUM (ANALYZE) before each PostgreSQL phase and periodically during it'
      : 'not run (no PostgreSQL phase)',
    cpuProf: opts['cpu-prof'],
  };
  const report = {
    date,
    command,
    startedAt: started.toISOString(),
    durationS: (performance.now() - t0) / 1000,
    machine: info,
    settings,
    results,
    targets: targets(results),
  };
  mkdirSync(opts.out, { recursive: true });
  const base = path.join(opts.out, `api-${date}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown(report));
  for (const t of report.targets) log(`${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.measured}`);
  log(`wrote ${base}.md and ${base}.json`);
  if (results.some((r) => !r.sanity.ok)) process.exitCode = 1;
}

await main();
