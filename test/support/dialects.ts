import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Dialect } from '../../src/store/store.ts';

/**
 * Store-backed tests run once per dialect: SQLite always, PostgreSQL when PAYSTREAM_TEST_DATABASE_URL
 * is set. With PAYSTREAM_TEST_REQUIRE_POSTGRES=1 (CI) a missing or unreachable PostgreSQL fails the
 * run instead of quietly testing SQLite alone.
 */
export const postgresAdminUrl = process.env['PAYSTREAM_TEST_DATABASE_URL'];
const requirePostgres = process.env['PAYSTREAM_TEST_REQUIRE_POSTGRES'] === '1';

export function dialects(): Dialect[] {
  if (!postgresAdminUrl && requirePostgres) {
    throw new Error('PAYSTREAM_TEST_REQUIRE_POSTGRES=1 but PAYSTREAM_TEST_DATABASE_URL is not set');
  }
  return postgresAdminUrl ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface TestDatabase {
  dialect: Dialect;
  /** Temp directory for SQLite files and other data; removed by drop(). */
  dataDir: string;
  /** Set for PostgreSQL: a database created for this test alone. */
  databaseUrl: string | undefined;
  sqlitePath: string;
  drop(): Promise<void>;
}

/** A fresh, empty database of the dialect (PostgreSQL: CREATE DATABASE with a random name). */
export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paystream-test-'));
  const sqlitePath = path.join(dataDir, 'paystream.sqlite');
  if (dialect === 'sqlite') {
    return {
      dialect,
      dataDir,
      databaseUrl: undefined,
      sqlitePath,
      drop: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const name = `paystream_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: postgresAdminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(postgresAdminUrl!);
  url.pathname = `/${name}`;
  return {
    dialect,
    dataDir,
    databaseUrl: url.toString(),
    sqlitePath,
    drop: async () => {
      const c = new pg.Client({ connectionString: postgresAdminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
