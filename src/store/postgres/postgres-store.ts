import { Kysely, PostgresDialect, type Transaction } from 'kysely';
import pg from 'pg';
import type { Database } from '../database.ts';
import { type MigrationSet, migrateToLatest, migrationsPending } from '../migrator.ts';
import type { Store } from '../store.ts';
import { preparedStatementPool } from './prepared-pool.ts';

export interface PostgresStoreOptions {
  poolMax?: number;
  /** The migration sets `migrate()` applies, in order. */
  migrations?: readonly MigrationSet[];
}

/** PostgreSQL through `pg`'s pool. Each transaction is a real PostgreSQL transaction. */
export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly db: Kysely<Database>;
  readonly pool: pg.Pool;
  readonly #migrations: readonly MigrationSet[];

  constructor(url: string, options: PostgresStoreOptions = {}) {
    this.#migrations = options.migrations ?? [];
    this.pool = new pg.Pool({ connectionString: url, max: options.poolMax ?? 10 });
    // An idle client's socket error must not crash the process; the pool replaces the client.
    this.pool.on('error', () => undefined);
    this.db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: preparedStatementPool(this.pool) }),
    });
  }

  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  migrate(): Promise<string[]> {
    return migrateToLatest(this.db as Kysely<unknown>, 'postgres', this.#migrations);
  }

  async ready(): Promise<boolean> {
    try {
      return (await migrationsPending(this.db as Kysely<unknown>, 'postgres', this.#migrations)) === 0;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
