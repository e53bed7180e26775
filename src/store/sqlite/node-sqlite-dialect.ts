import { DatabaseSync, type StatementSync } from 'node:sqlite';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type SqliteDatabase,
  SqliteDialect,
  SqliteDriver,
  type SqliteStatement,
} from 'kysely';

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
      entry = { stmt, reader: stmt.columns().length > 0 };
      if (this.#statements.size >= NodeSqliteDatabase.statementCacheMax) {
        const oldest = this.#statements.keys().next().value;
        if (oldest !== undefined) this.#statements.delete(oldest);
      }
      this.#statements.set(sql, entry);
    }
    const { stmt, reader } = entry;
    type Bindable = import('node:sqlite').SQLInputValue;
    return {
      reader,
      all: (parameters) => stmt.all(...(parameters as Bindable[])),
      run: (parameters) => stmt.run(...(parameters as Bindable[])),
      iterate: (parameters) => stmt.iterate(...(parameters as Bindable[])),
    };
  }
}

/** `BEGIN IMMEDIATE` takes the write lock up front, so two writers never deadlock on an upgrade. */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

export function openNodeSqlite(
  path: string,
  busyTimeoutMs: number,
): { dialect: SqliteDialect; raw: DatabaseSync } {
  const raw = new DatabaseSync(path, { timeout: busyTimeoutMs });
  raw.exec('PRAGMA journal_mode = WAL');
  // FULL: the WAL is fsynced at every commit, so a committed payment survives power loss.
  raw.exec('PRAGMA synchronous = FULL');
  raw.exec('PRAGMA foreign_keys = ON');
  const config = { database: new NodeSqliteDatabase(raw) };
  class NodeSqliteDialect extends SqliteDialect {
    override createDriver(): Driver {
      return new ImmediateSqliteDriver(config);
    }
  }
  return { dialect: new NodeSqliteDialect(config), raw };
}
