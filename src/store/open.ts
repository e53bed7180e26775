import type { Config } from '../platform/config.ts';
import { PostgresStore } from './postgres/postgres-store.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { Store } from './store.ts';

/** The store the configuration asks for: PostgreSQL when a database URL is set, else SQLite. */
export function openStore(config: Pick<Config, 'databaseUrl' | 'sqlitePath' | 'databasePoolMax'>): Store {
  return config.databaseUrl
    ? new PostgresStore(config.databaseUrl, { poolMax: config.databasePoolMax })
    : new SqliteStore(config.sqlitePath);
}
