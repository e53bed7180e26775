import path from 'node:path';
import { type Paystream, type StartOptions, startPaystream } from '../../src/app/paystream.ts';
import { serviceVariables } from '../../src/app/services.ts';
import { startSandboxGateway } from '../../src/gateway/sandbox/server.ts';
import { type Config, loadConfig } from '../../src/platform/config.ts';
import type { Dialect } from '../../src/store/store.ts';
import { createTestDatabase, type TestDatabase } from './dialects.ts';
import { writtenEvents } from './events.ts';

// Tests read loosely-typed JSON answers; asserting on them is the point.
// biome-ignore lint/suspicious/noExplicitAny: response bodies of arbitrary shape
type Json = any;

export interface TestApp {
  app: Paystream;
  db: TestDatabase;
  sandbox: Awaited<ReturnType<typeof startSandboxGateway>>;
  /** Secret of a key of the test's merchant. */
  secret: string;
  /** POST with auth and an idempotency key, through Fastify's inject (no socket). */
  post(
    url: string,
    body: unknown,
    key?: string,
    secret?: string,
  ): Promise<{ status: number; json: Json; headers: Record<string, unknown> }>;
  get(url: string, secret?: string): Promise<{ status: number; json: Json }>;
  /** Row counts of the core tables. */
  counts(): Promise<{
    payments: number;
    refunds: number;
    /** Events written, relayed or not (test/support/events.ts). */
    events: number;
    idempotency: number;
    charges: number;
  }>;
  close(): Promise<void>;
}

/**
 * paystream on a fresh database of the dialect, with the sandbox gateway started separately so a
 * test can count what the gateway charged. Settings can be overridden with PAYSTREAM_* values.
 */
export async function startTestApp(
  dialect: Dialect,
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<TestApp> {
  const db = await createTestDatabase(dialect);
  const sandbox = await startSandboxGateway({
    file: path.join(db.dataDir, 'gateway.sqlite'),
    host: '127.0.0.1',
    port: 0,
    holdMs: 5_000,
  });
  // The services' own settings: the receipts' local SMTP sink on a port of its own.
  const fullEnv = {
    PAYSTREAM_DATA_DIR: db.dataDir,
    ...(db.databaseUrl ? { PAYSTREAM_DATABASE_URL: db.databaseUrl } : {}),
    PAYSTREAM_PORT: '0',
    PAYSTREAM_GATEWAY_URL: sandbox.url,
    PAYSTREAM_LOG_LEVEL: 'silent',
    PAYSTREAM_RECONCILE_INTERVAL_MS: '3600000',
    PAYSTREAM_SMTP_SINK_PORT: '0',
    ...env,
  };
  const config: Config = loadConfig(fullEnv, serviceVariables);
  const app = await startPaystream(config, { createFirstKey: false, env: fullEnv, ...options });
  const { secret } = await app.apiKeys.create({ name: 'test' });
  let n = 0;
  const t: TestApp = {
    app,
    db,
    sandbox,
    secret,
    async post(url, body, key = `key-${process.pid}-${++n}-${Math.random()}`, s = secret) {
      const res = await app.api.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${s}`, 'idempotency-key': key, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      return { status: res.statusCode, json: res.json(), headers: res.headers };
    },
    async get(url, s = secret) {
      const res = await app.api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${s}` } });
      return { status: res.statusCode, json: res.json() };
    },
    async counts() {
      const count = async (table: 'payments' | 'refunds' | 'idempotency_records') =>
        Number(
          (
            await app.store.db
              .selectFrom(table)
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      const charges = Number(
        (
          await sandbox.store.db
            .selectFrom('charges')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
      return {
        payments: await count('payments'),
        refunds: await count('refunds'),
        events: (await writtenEvents(app.store)).length,
        idempotency: await count('idempotency_records'),
        charges,
      };
    },
    async close() {
      await app.close();
      await sandbox.close();
      await db.drop();
    },
  };
  return t;
}
