import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type SqliteDatabase,
  SqliteDialect,
  SqliteDriver,
  type SqliteStatement,
} from 'kysely';

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_RECOVERY, _SNAPSHOT, _TIMEOUT) share the low byte 5. */
function isBusy(error: unknown): boolean {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && (code & 0xff) === 5;
}

export class StoreBusyError extends Error {
  override name = 'StoreBusyError';
}

/** Waits between two tries of a statement that met another process's lock: short, then longer. */
const busyRetryDelayMinMs = 1;
const busyRetryDelayMaxMs = 2;

/** Safe integers back to numbers; larger ones stay BigInt (a plain read would throw on them). */
function exactIntegers(row: Record<string, unknown>): Record<string, unknown> {
  for (const key in row) {
    const value = row[key];
    if (typeof value === 'bigint' && value <= maxSafe && value >= minSafe) row[key] = Number(value);
  }
  return row;
}
const maxSafe = BigInt(Number.MAX_SAFE_INTEGER);
const minSafe = -maxSafe;

/**
 * Kysely's SQLite dialect expects a better-sqlite3-shaped database; this is the glue that gives it
 * Node's built-in `node:sqlite` instead, so the embedded mode needs no native build.
 */
class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  /** Kysely prepares every query anew; keep the compiled statements (bounded). */
  readonly #statements = new Map<string, { stmt: StatementSync; reader: boolean }>();
  static readonly statementCacheMax = 500;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  close(): void {
    this.#statements.clear();
    this.#db.close();
  }

  prepare(sql: string): SqliteStatement {
    let entry = this.#statements.get(sql);
    if (!entry) {
      const stmt = this.#db.prepare(sql);
      // Exact 64-bit integers: read every INTEGER as a BigInt, then hand back a plain number when
      // it fits one exactly (see exactIntegers), so only amounts beyond 2^53 stay BigInt.
      stmt.setReadBigInts(true);
      entry = { stmt, reader: stmt.columns().length > 0 };
      if (this.#statements.size >= NodeSqliteDatabase.statementCacheMax) {
        const oldest = this.#statements.keys().next().value;
        if (oldest !== undefined) this.#statements.delete(oldest);
      }
      this.#statements.set(sql, entry);
    }
    const { stmt, reader } = entry;
    return {
      reader,
      all: (parameters) => stmt.all(...(parameters as SQLInputValue[])).map(exactIntegers),
      run: (parameters) => stmt.run(...(parameters as SQLInputValue[])),
      iterate: (parameters) => stmt.iterate(...(parameters as SQLInputValue[])),
    };
  }
}

/**
 * One connection whose lock waits never block the event loop. node:sqlite's own busy handler
 * sleeps synchronously inside the call, freezing the whole process for as long as another process
 * holds the write lock; so the connection is opened with a busy timeout of 0, and a statement that
 * meets the lock is retried here after an asynchronous sleep, until `busyTimeoutMs` has passed.
 * Retrying is safe: SQLITE_BUSY leaves the statement without effect and an open transaction intact.
 */
class AsyncBusyConnection implements DatabaseConnection {
  readonly #db: NodeSqliteDatabase;
  readonly #busyTimeoutMs: number;

  constructor(db: NodeSqliteDatabase, busyTimeoutMs: number) {
    this.#db = db;
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const giveUpAt = Date.now() + this.#busyTimeoutMs;
    for (let delayMs = busyRetryDelayMinMs; ; delayMs = Math.min(delayMs * 2, busyRetryDelayMaxMs)) {
      try {
        return this.#run<R>(query);
      } catch (error) {
        if (!isBusy(error)) throw error;
        if (Date.now() >= giveUpAt) {
          throw new StoreBusyError(
            `the SQLite database stayed locked by another process for ${this.#busyTimeoutMs} ms`,
            { cause: error },
          );
        }
        await sleep(delayMs);
      }
    }
  }

  #run<R>(query: CompiledQuery): QueryResult<R> {
    const stmt = this.#db.prepare(query.sql);
    if (stmt.reader) return { rows: stmt.all(query.parameters) as R[] };
    const { changes, lastInsertRowid } = stmt.run(query.parameters);
    return {
      numAffectedRows: BigInt(changes),
      insertId: BigInt(lastInsertRowid),
      rows: [],
    };
  }

  // biome-ignore lint/correctness/useYield: streaming is not offered; Kysely requires the method
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on the SQLite store');
  }
}

/**
 * Kysely's SQLite driver with the connection above. Transactions on the writer start with
 * `BEGIN IMMEDIATE`: the write lock is taken up front, so two writers never deadlock on an upgrade
 * (and waiting for it is the asynchronous retry above).
 */
class NodeSqliteDriver extends SqliteDriver {
  readonly #connection: AsyncBusyConnection;
  readonly #begin: string;

  constructor(database: NodeSqliteDatabase, busyTimeoutMs: number, begin: string) {
    super({ database });
    this.#connection = new AsyncBusyConnection(database, busyTimeoutMs);
    this.#begin = begin;
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    // The base class serialises users of the one connection; hand out ours instead of its own.
    await super.acquireConnection();
    return this.#connection;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(this.#begin));
  }
}

export interface NodeSqliteOptions {
  /** How long a statement waits (asynchronously) for another process's lock before it fails. */
  busyTimeoutMs: number;
  /** A reader refuses every write (`query_only`) and starts plain deferred transactions. */
  readOnly: boolean;
  /** The writer's automatic checkpoint threshold, in WAL pages (SQLite's default: 1000). */
  walAutocheckpointPages?: number;
}

export function openNodeSqlite(path: string, options: NodeSqliteOptions): SqliteDialect {
  // Opening may meet a lock (another process switching to WAL or recovering it): a blocking wait is
  // fine here, before anything is served. Afterwards every wait is asynchronous (busy timeout 0).
  const raw = new DatabaseSync(path, { timeout: options.busyTimeoutMs });
  const database = new NodeSqliteDatabase(raw);
  if (options.readOnly) {
    raw.exec('PRAGMA query_only = ON');
  } else {
    raw.exec('PRAGMA journal_mode = WAL');
    // FULL: the WAL is fsynced at every commit, so a committed payment survives power loss.
    raw.exec('PRAGMA synchronous = FULL');
    raw.exec('PRAGMA foreign_keys = ON');
    if (options.walAutocheckpointPages !== undefined) {
      raw.exec(`PRAGMA wal_autocheckpoint = ${Math.max(0, Math.floor(options.walAutocheckpointPages))}`);
    }
  }
  raw.exec('PRAGMA busy_timeout = 0');
  const driver = new NodeSqliteDriver(
    database,
    options.busyTimeoutMs,
    options.readOnly ? 'begin' : 'begin immediate',
  );
  class NodeSqliteDialect extends SqliteDialect {
    override createDriver(): Driver {
      return driver;
    }
  }
  return new NodeSqliteDialect({ database });
}
