import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, type Transaction } from 'kysely';
import type { Database } from '../database.ts';
import { type MigrationSet, migrateToLatest, migrationsPending } from '../migrator.ts';
import type { Store } from '../store.ts';
import { openNodeSqlite } from './node-sqlite-dialect.ts';

interface Job<DB> {
  fn: (trx: Transaction<DB>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

export interface SqliteStoreOptions {
  /** How long a writer waits for another process's write lock. */
  busyTimeoutMs?: number;
  /** Most transactions committed by one fsync. */
  groupCommitMax?: number;
  /** The migration sets `migrate()` applies, in order (none: the store only opens the file). */
  migrations?: readonly MigrationSet[];
}

/**
 * SQLite through node:sqlite, with group commit: transactions that arrive in the same turn of the
 * event loop run one after another inside ONE SQLite transaction, each in its own savepoint, and
 * are acknowledged only after the single COMMIT (one fsync) returns. A callback that throws is
 * rolled back to its savepoint alone. Durability is unchanged (nothing is acknowledged before its
 * fsync); what changes is that one fsync covers many payments.
 */
export class SqliteStore<DB = Database> implements Store<DB> {
  readonly dialect = 'sqlite' as const;
  readonly db: Kysely<DB>;
  readonly #groupCommitMax: number;
  readonly #migrations: readonly MigrationSet[];
  #queue: Job<DB>[] = [];
  #flushScheduled = false;
  #flushing = false;

  constructor(file: string, options: SqliteStoreOptions = {}) {
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    const { dialect } = openNodeSqlite(file, options.busyTimeoutMs ?? 5000);
    this.db = new Kysely<DB>({ dialect });
    this.#groupCommitMax = options.groupCommitMax ?? 256;
    this.#migrations = options.migrations ?? [];
  }

  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#flushScheduled && !this.#flushing) {
        this.#flushScheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    this.#flushScheduled = false;
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        await this.#commitBatch(this.#queue.splice(0, this.#groupCommitMax));
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #commitBatch(batch: Job<DB>[]): Promise<void> {
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    let trx: Awaited<ReturnType<ReturnType<Kysely<DB>['startTransaction']>['execute']>>;
    try {
      trx = await this.db.startTransaction().execute();
    } catch (error) {
      for (const job of batch) job.reject(error);
      return;
    }
    try {
      for (const job of batch) {
        const sp = await trx.savepoint('job').execute();
        try {
          const value = await job.fn(sp);
          await sp.releaseSavepoint('job').execute();
          outcomes.push({ ok: true, value });
        } catch (error) {
          await (await sp.rollbackToSavepoint('job').execute()).releaseSavepoint('job').execute();
          outcomes.push({ ok: false, error });
        }
      }
      await trx.commit().execute();
    } catch (error) {
      // The commit itself (or a savepoint command) failed: nothing in this batch is durable.
      await trx
        .rollback()
        .execute()
        .catch(() => undefined);
      for (const job of batch) job.reject(error);
      return;
    }
    batch.forEach((job, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    });
  }

  migrate(): Promise<string[]> {
    return migrateToLatest(this.db as Kysely<unknown>, 'sqlite', this.#migrations);
  }

  async ready(): Promise<boolean> {
    try {
      return (await migrationsPending(this.db as Kysely<unknown>, 'sqlite', this.#migrations)) === 0;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    while (this.#flushing || this.#flushScheduled || this.#queue.length > 0) {
      await new Promise((r) => setImmediate(r));
    }
    await this.db.destroy();
  }
}
