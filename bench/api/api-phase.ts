/** The API phase: POST /v1/payments through a real paystream process. */

import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { migrationSets } from '../../src/app/migrations.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { openStore } from '../../src/store/open.ts';
import { drive, type Op } from './load.ts';
import {
  cli,
  concurrency,
  embeddedSandbox,
  log,
  measureSeconds,
  opts,
  pgSandbox,
  root,
  runId,
  serveCommand,
  sharedSettings,
  vacuumIntervalMs,
  warmupSeconds,
} from './options.ts';
import { countsOfStore, type Mode, type PhaseResult, paymentBody, sanityOf } from './phases-support.ts';
import { createDatabase, dropDatabase, Vacuumer, withDatabase } from './postgres.ts';
import { type Child, childEnv, createKey, spawnUntil } from './processes.ts';

export async function apiPhase(mode: Mode, pgAdminUrl: string): Promise<PhaseResult> {
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
      [...nodeArgs, cli, serveCommand],
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
export const noGateway: Gateway = {
  charge: () => Promise.reject(new Error('no gateway in the reference phase')),
  findCharge: () => Promise.reject(new Error('no gateway in the reference phase')),
  refund: () => Promise.reject(new Error('no gateway in the reference phase')),
  findRefund: () => Promise.reject(new Error('no gateway in the reference phase')),
  close: () => Promise.resolve(),
};
