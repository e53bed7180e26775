/** Command-line options of the API benchmark, and the run-wide settings derived from them. */

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cli = path.join(root, 'bin', 'paystream.ts');

// ---------------------------------------------------------------------------------------------
// Options

export const { values: opts } = parseArgs({
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
    serve: { type: 'string', default: 'start' },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(`${readFileSync(path.join(root, 'bench', 'api.ts'), 'utf8').split('*/')[0]}*/\n`);
  process.exit(0);
}

export function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got "${raw}")`);
  return n;
}

export const measureSeconds = positive('seconds', opts.seconds);
export const warmupSeconds = Number(opts.warmup);
if (!Number.isFinite(warmupSeconds) || warmupSeconds < 0) throw new Error('--warmup must be >= 0');
/** Client counts to measure, each in its own pair of phases: saturation shows as the same payments/s with more latency. */
export const concurrencies = opts.concurrency
  .split(',')
  .map((c) => Math.floor(positive('concurrency', c.trim())));
/** The client count of the phases being run now. */
export let concurrency = concurrencies[0]!;

/** Sets the client count of the phases about to run. */
export function setConcurrency(clients: number): void {
  concurrency = clients;
}
export const customers = Math.floor(positive('customers', opts.customers));
export const vacuumIntervalMs = positive('vacuum-interval', opts['vacuum-interval']) * 1000;
export const modes = opts.modes.split(',').map((m) => m.trim());
for (const m of modes) {
  if (m !== 'embedded' && m !== 'postgres') throw new Error(`--modes: unknown mode "${m}"`);
}
export const pgSandbox = opts['pg-sandbox'];
export const embeddedSandbox = opts['embedded-sandbox'];
for (const [name, v] of [
  ['pg-sandbox', pgSandbox],
  ['embedded-sandbox', embeddedSandbox],
]) {
  if (v !== 'in-process' && v !== 'separate') throw new Error(`--${name} must be in-process or separate`);
}
export const poolMax =
  opts['pool-max'] === undefined ? undefined : String(Math.floor(positive('pool-max', opts['pool-max'])));
/** PAYSTREAM_* settings shared by the server and the reference store (default: paystream's defaults). */
export const sharedSettings: Record<string, string> = poolMax ? { PAYSTREAM_DATABASE_POOL_MAX: poolMax } : {};
export { runId } from './run-id.ts';

export function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** The paystream command the API phase runs: `start` (API + relay) or `api` (the API alone). */
export const serveCommand = opts.serve;
if (serveCommand !== 'start' && serveCommand !== 'api') throw new Error('--serve must be start or api');
