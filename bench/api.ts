/**
 * API throughput benchmark: POST /v1/payments through a real paystream process, then the same SQL
 * work run directly against the store in this process (the "reference"), for the embedded mode
 * (SQLite) and the PostgreSQL mode. Writes bench/results/api-<date>.md and .json. See bench/README.md
 * (every option) and bench/api/ (the parts).
 *
 *   node bench/api.ts [--seconds 15] [--warmup 3] [--concurrency 16,32] [--modes embedded,postgres]
 *                     [--pg-url postgres://postgres@127.0.0.1:5432/postgres] [--pg-sandbox in-process|separate]
 *                     [--out bench/results] [--cpu-prof]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { apiPhase } from './api/api-phase.ts';
import { machine } from './api/machine.ts';
import {
  concurrencies,
  customers,
  embeddedSandbox,
  log,
  measureSeconds,
  modes,
  opts,
  pgSandbox,
  poolMax,
  runId,
  setConcurrency,
  vacuumIntervalMs,
  warmupSeconds,
} from './api/options.ts';
import type { Mode, PhaseResult } from './api/phases-support.ts';
import { referencePhase } from './api/reference-phase.ts';
import { fmt, fmtInt, markdown, targets } from './api/report.ts';

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
      setConcurrency(c);
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
