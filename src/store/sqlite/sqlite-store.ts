import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../database.ts';
import { HandleGuard, SerialDeadline, TransactionDeadlineError } from '../deadline.ts';
import { type MigrationSet, migrateToLatest, migrationsPending } from '../migrator.ts';
import type { Store } from '../store.ts';
import { Checkpointer } from './checkpointer.ts';
import { openNodeSqlite } from './node-sqlite-dialect.ts';

interface Job<DB> {
  fn: (trx: Transaction<DB>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

export interface SqliteStoreOptions {
  /** How long a writer waits (asynchronously) for another process's write lock. */
  busyTimeoutMs?: number;
  /** Most transactions committed by one fsync. */
  groupCommitMax?: number;
  /** A transaction callback still running after this long is rolled back and fails. */
  transactionDeadlineMs?: number;
  /**
   * How often a PASSIVE WAL checkpoint runs on a thread of its own (see checkpointer.ts); 0 leaves
   * checkpoints to SQLite's automatic one on the writer.
   */
  checkpointIntervalMs?: number;
  /** The migration sets `migrate()` applies, in order (none: the store only opens the file). */
  migrations?: readonly MigrationSet[];
}

export const sqliteTransactionDeadlineMsDefault = 1000;
export const sqliteCheckpointIntervalMsDefault = 100;
/**
 * With the checkpoint thread, the writer checkpoints by itself only past this many WAL pages
 * (40 MB of 4 KiB pages): a safety net that keeps the WAL bounded if that thread falls behind.
 */
const walAutocheckpointPagesFallback = 10_000;

/**
 * SQLite through node:sqlite, with group commit: transactions that arrive in the same turn of the
 * event loop run one after another inside ONE SQLite transaction, each in its own savepoint, and
 * are acknowledged only after the single COMMIT (one fsync) returns. A callback that throws is
 * rolled back to its savepoint alone. Durability is unchanged (nothing is acknowledged before its
 * fsync); what changes is that one fsync covers many payments.
 *
 * Sharing one writer among every caller is only safe if no caller can hold it up, so:
 * - each callback has a deadline: past it, it is rolled back to its savepoint, fails with
 *   TransactionDeadlineError, its handle stops working, and the batch goes on;
 * - `db` (reads) is a second, read-only connection: a read never waits behind the write queue, and
 *   a callback that reads through `db` instead of its `trx` sees the last commit instead of
 *   deadlocking (WAL lets readers and the writer work at the same time);
 * - waiting for another process's lock never blocks the event loop (see node-sqlite-dialect.ts).
 */
export class SqliteStore<DB = Database> implements Store<DB> {
  readonly dialect = 'sqlite' as const;
  /** The read-only connection. */
  readonly db: Kysely<DB>;
  /** The write connection: group-commit batches and migrations only, one at a time. */
  readonly #writer: Kysely<DB>;
  #writerTurn: Promise<unknown> = Promise.resolve();
  readonly #groupCommitMax: number;
  readonly #deadline: SerialDeadline;
  readonly #migrations: readonly MigrationSet[];
  readonly #checkpointer: Checkpointer | undefined;
  #queue: Job<DB>[] = [];
  #flushScheduled = false;
  #flushing = false;

  constructor(file: string, options: SqliteStoreOptions = {}) {
    mkdirSync(path.dirname(file), { recursive: true });
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    const checkpointIntervalMs = options.checkpointIntervalMs ?? sqliteCheckpointIntervalMsDefault;
    // The writer first: it switches the file to WAL, which the reader and the checkpointer rely on.
    this.#writer = new Kysely<DB>({
      dialect: openNodeSqlite(file, {
        busyTimeoutMs,
        readOnly: false,
        ...(checkpointIntervalMs > 0 ? { walAutocheckpointPages: walAutocheckpointPagesFallback } : {}),
      }),
    });
    this.db = new Kysely<DB>({ dialect: openNodeSqlite(file, { busyTimeoutMs, readOnly: true }) });
    this.#groupCommitMax = options.groupCommitMax ?? 256;
    this.#deadline = new SerialDeadline(options.transactionDeadlineMs ?? sqliteTransactionDeadlineMsDefault);
    this.#migrations = options.migrations ?? [];
    this.#checkpointer =
      checkpointIntervalMs > 0 ? new Checkpointer(file, { intervalMs: checkpointIntervalMs }) : undefined;
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

  /** Runs `work` with the writer to itself: batches and migrations never interleave. */
  #withWriter<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.#writerTurn.then(work);
    this.#writerTurn = turn.catch(() => undefined);
    return turn;
  }

  async #flush(): Promise<void> {
    this.#flushScheduled = false;
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#groupCommitMax);
        await this.#withWriter(() => this.#commitBatch(batch));
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #commitBatch(batch: Job<DB>[]): Promise<void> {
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    let trx: Awaited<ReturnType<ReturnType<Kysely<DB>['startTransaction']>['execute']>>;
    try {
      trx = await this.#writer.startTransaction().execute();
    } catch (error) {
      for (const job of batch) job.reject(error);
      return;
    }
    try {
      for (const job of batch) {
        const sp = await trx.savepoint('job').execute();
        const guard = new HandleGuard();
        try {
          const value = await this.#deadline.run(() => job.fn(sp.withPlugin(guard)));
          guard.revoke('its transaction callback has returned');
          await sp.releaseSavepoint('job').execute();
          outcomes.push({ ok: true, value });
        } catch (error) {
          guard.revoke(
            error instanceof TransactionDeadlineError ? error.message : 'its transaction callback has failed',
          );
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

  /**
   * Kysely's migrator takes no lock on SQLite and runs each migration outside a transaction, so two
   * processes starting on a fresh file would both apply the same migrations. All of it runs in ONE
   * `BEGIN IMMEDIATE` transaction on the writer instead: the second process waits for the write lock,
   * then finds everything applied. (SQLite's DDL is transactional.)
   */
  migrate(): Promise<string[]> {
    return this.#withWriter(async () => {
      await sql`begin immediate`.execute(this.#writer);
      try {
        const applied = await migrateToLatest(this.#writer as Kysely<unknown>, 'sqlite', this.#migrations);
        await sql`commit`.execute(this.#writer);
        return applied;
      } catch (error) {
        await sql`rollback`.execute(this.#writer).catch(() => undefined);
        throw error;
      }
    });
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
    this.#deadline.close();
    await this.#checkpointer?.close();
    await this.#withWriter(() => this.#writer.destroy());
    await this.db.destroy();
  }
}
