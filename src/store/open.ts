import type { Config } from '../platform/config.ts';
import type { MigrationSet } from './migrator.ts';
import { PostgresStore } from './postgres/postgres-store.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { Store } from './store.ts';

/**
 * The store the configuration asks for: PostgreSQL when a database URL is set, else SQLite, with
 * the migration sets its `migrate()` applies.
 */
export function openStore(
  config: Pick<Config, 'databaseUrl' | 'sqlitePath' | 'databasePoolMax'>,
  migrations: readonly MigrationSet[],
  options: { transactionDeadlineMs?: number; onPoolError?: (error: Error) => void } = {},
): Store {
  return config.databaseUrl
    ? new PostgresStore(config.databaseUrl, { poolMax: config.databasePoolMax, migrations, ...options })
    : new SqliteStore(config.sqlitePath, {
        migrations,
        ...(options.transactionDeadlineMs === undefined
          ? {}
          : { transactionDeadlineMs: options.transactionDeadlineMs }),
      });
}
