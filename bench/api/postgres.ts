/** PostgreSQL housekeeping for the bench: its own databases, and VACUUM (ANALYZE) during a run. */

import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { runId } from './run-id.ts';

export const benchTables = ['payments', 'idempotency_records', 'outbox', 'events', 'api_keys'];

export interface VacuumLog {
  runs: number;
  totalMs: number;
  maxMs: number;
  failures: string[];
}

/** VACUUM (ANALYZE) of the bench tables from its own connection: once now, then every interval. */
export class Vacuumer {
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

export function withDatabase(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function adminQuery(adminUrl: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

export async function createDatabase(adminUrl: string, suffix: string): Promise<string> {
  const name = `paystream_bench_${runId}${suffix}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  return name;
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
