import { Kysely, PostgresDialect, type Transaction } from 'kysely';
import pg from 'pg';
import type { Database } from '../database.ts';
import { HandleGuard, withDeadline } from '../deadline.ts';
import { type MigrationSet, migrateToLatest, migrationsPending } from '../migrator.ts';
import type { Store } from '../store.ts';
import { preparedStatementPool } from './prepared-pool.ts';

export interface PostgresStoreOptions {
  poolMax?: number;
  /** The migration sets `migrate()` applies, in order. */
  migrations?: readonly MigrationSet[];
  /** A transaction callback still running after this long is rolled back and fails. */
  transactionDeadlineMs?: number;
  /**
   * Told about errors of idle pooled connections (the server restarted, a connection was killed):
   * they must not crash the process (the pool replaces the client), but must not go unseen either.
   */
  onPoolError?: (error: Error) => void;
}

export const postgresTransactionDeadlineMsDefault = 1000;

/** PostgreSQL through `pg`'s pool. Each transaction is a real PostgreSQL transaction. */
export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly db: Kysely<Database>;
  readonly pool: pg.Pool;
  readonly #migrations: readonly MigrationSet[];
  readonly #transactionDeadlineMs: number;

  constructor(url: string, options: PostgresStoreOptions = {}) {
    this.#migrations = options.migrations ?? [];
    this.#transactionDeadlineMs = options.transactionDeadlineMs ?? postgresTransactionDeadlineMsDefault;
    this.pool = new pg.Pool({ connectionString: url, max: options.poolMax ?? 10 });
    const onPoolError =
      options.onPoolError ??
      ((error: Error) =>
        process.emitWarning(`idle PostgreSQL connection failed (replaced): ${error.message}`, 'PoolWarning'));
    this.pool.on('error', onPoolError);
    this.db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: preparedStatementPool(this.pool) }),
    });
  }

  /**
   * One PostgreSQL transaction on a connection of its own, so a slow callback delays nobody else;
   * it still has the same deadline as on SQLite, because it holds a pooled connection and its row
   * locks: past the deadline it is rolled back and fails, and its handle stops working.
   */
  transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      const guard = new HandleGuard();
      try {
        return await withDeadline(fn(trx.withPlugin(guard)), this.#transactionDeadlineMs);
      } finally {
        guard.revoke('its transaction callback is over');
      }
    });
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
