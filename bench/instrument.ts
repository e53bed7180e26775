/**
 * Stage timing for a paystream process under the benchmark, loaded with
 * `node --import ./bench/instrument.ts bin/paystream.ts start` (bench/api.ts --instrument does it).
 * It wraps a few methods of the loaded modules (same module instances as the app's) and records the
 * wall time of each call; at exit it writes a JSON summary to $BENCH_INSTRUMENT_OUT. Diagnostic only:
 * the wrappers cost a little, so figures from an instrumented run are not the benchmark's figures.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { DatabaseSync, StatementSync } from 'node:sqlite';
import pg from 'pg';
import { ApiKeys } from '../src/admin/api-keys.ts';
import { HttpGateway } from '../src/gateway/http-gateway.ts';
import { PaymentService } from '../src/payments/service.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

const out = process.env['BENCH_INSTRUMENT_OUT'];
const samples = new Map<string, number[]>();
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
/** Synchronous node:sqlite statement time (it blocks the event loop), by database file and statement kind. */
const sqliteTime = new Map<string, { calls: number; totalMs: number; maxMs: number }>();
/** Nothing is recorded until the first SIGUSR2 (the bench's measured window opens); a second one stops. */
let recording = false;
let signals = 0;
process.on('SIGUSR2', () => {
  signals += 1;
  recording = signals === 1;
  if (recording) loopDelay.enable();
  else loopDelay.disable();
});

function record(stage: string, ms: number): void {
  if (!recording) return;
  const list = samples.get(stage);
  if (list) list.push(ms);
  else samples.set(stage, [ms]);
}

type AnyFn = (...args: unknown[]) => unknown;

function wrap(proto: object, method: string, stage: string, when?: (args: unknown[]) => boolean): void {
  const target = proto as Record<string, AnyFn>;
  const original = target[method];
  if (typeof original !== 'function') throw new Error(`instrument: no method ${method}`);
  target[method] = function (this: unknown, ...args: unknown[]) {
    if (when && !when(args)) return original.apply(this, args);
    const start = performance.now();
    const result = original.apply(this, args);
    if (result instanceof Promise) {
      return result.finally(() => record(stage, performance.now() - start));
    }
    record(stage, performance.now() - start);
    return result;
  };
}

// node:sqlite runs every statement (COMMIT and its fsync included) on the JS thread: time them all.
const statementDb = new WeakMap<object, string>();
const originalPrepare = DatabaseSync.prototype.prepare;
DatabaseSync.prototype.prepare = function (this: DatabaseSync, sqlText: string) {
  const stmt = originalPrepare.call(this, sqlText);
  statementDb.set(stmt, path.basename(this.location() ?? ':memory:'));
  return stmt;
};

function statementKind(sqlText: string): string {
  const t = sqlText.trim().toLowerCase();
  if (t.startsWith('commit')) return 'COMMIT (fsync)';
  if (t.startsWith('begin')) return 'BEGIN IMMEDIATE';
  if (t.startsWith('savepoint') || t.startsWith('release') || t.startsWith('rollback'))
    return 'SAVEPOINT/RELEASE';
  const table = /(?:into|update|from)\s+"?([a-z_]+)"?/.exec(t)?.[1] ?? '?';
  return `${t.split(/\s+/)[0]!.toUpperCase()} ${table}`;
}

for (const method of ['run', 'all', 'get'] as const) {
  const original = StatementSync.prototype[method] as AnyFn;
  (StatementSync.prototype as unknown as Record<string, AnyFn>)[method] = function (
    this: StatementSync,
    ...args: unknown[]
  ) {
    if (!recording) return original.apply(this, args);
    const start = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      const ms = performance.now() - start;
      const key = `${statementDb.get(this) ?? '?'}: ${statementKind(this.sourceSQL)}`;
      const entry = sqliteTime.get(key) ?? { calls: 0, totalMs: 0, maxMs: 0 };
      entry.calls += 1;
      entry.totalMs += ms;
      entry.maxMs = Math.max(entry.maxMs, ms);
      sqliteTime.set(key, entry);
    }
  };
}

wrap(PaymentService.prototype, 'createPayment', 'service.createPayment (txn1 + charge + txn2)');
wrap(PaymentService.prototype, 'settlePayment', 'txn2: settlePayment (queue + run + commit)');
wrap(HttpGateway.prototype, 'charge', 'gateway.charge (HTTP round trip to the sandbox)');
wrap(ApiKeys.prototype, 'authenticate', 'auth: ApiKeys.authenticate (api_keys lookup)');
wrap(SqliteStore.prototype, 'transaction', 'store.transaction (any: queue + group commit)');
wrap(PostgresStore.prototype, 'transaction', 'store.transaction (any: pool wait + run + commit)');
// kysely asks pg's pool for a connection per query outside a transaction and per transaction.
wrap(pg.Pool.prototype, 'connect', 'pg pool.connect (wait for a connection)', (args) => args.length === 0);

process.on('exit', () => {
  if (!out) return;
  const stages: Record<string, unknown> = {};
  for (const [stage, list] of samples) {
    const sorted = Float64Array.from(list).sort();
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
    let sum = 0;
    for (const v of sorted) sum += v;
    stages[stage] = {
      calls: sorted.length,
      meanMs: sum / sorted.length,
      p50Ms: at(0.5),
      p90Ms: at(0.9),
      p99Ms: at(0.99),
      maxMs: sorted[sorted.length - 1],
    };
  }
  const ns = (v: number) => v / 1e6;
  writeFileSync(
    out,
    JSON.stringify(
      {
        stages,
        sqliteStatements: Object.fromEntries(
          [...sqliteTime.entries()].sort((a, b) => b[1].totalMs - a[1].totalMs),
        ),
        eventLoopDelayMs: {
          mean: ns(loopDelay.mean),
          p50: ns(loopDelay.percentile(50)),
          p99: ns(loopDelay.percentile(99)),
          max: ns(loopDelay.max),
        },
      },
      null,
      2,
    ),
  );
});
