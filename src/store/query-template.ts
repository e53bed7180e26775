import {
  type Compilable,
  CompiledQuery,
  type Insertable,
  type Kysely,
  type QueryResult,
  type Transaction,
} from 'kysely';
import type { Database } from './database.ts';

/** What a placeholder reads like until the template's parameters replace it. */
const placeholderPrefix = '\u0000paystream-parameter:';

type Slot = { name: string } | { value: unknown };

interface Compiled {
  sql: string;
  slots: Slot[];
}

type Db = Kysely<Database> | Transaction<Database>;

/**
 * A statement of the hot path, built and compiled by Kysely once per dialect and then run with new
 * values. Kysely builds and compiles every query anew (freezing its nodes, parsing the values,
 * visiting the tree): 15-25 µs a statement in a profile of the embedded API, about 100 µs of each
 * payment's main-thread time over its five writes. A template is built with placeholders instead
 * of values (`p.id` is a marker string that Kysely passes through as a parameter), compiled, and
 * the markers are looked up by name in each run's values.
 *
 * The builder must use each placeholder as a plain value (no arithmetic, no `? :` on it) and have
 * a shape that does not depend on the values (no `in` lists of varying length). A value missing
 * from a run throws: a marker is never sent to the database.
 */
export class QueryTemplate<P extends Record<string, unknown>, R = unknown> {
  readonly #build: (db: Db, p: P) => Compilable<R>;
  /** Per dialect adapter (one per store), the SQL and where each parameter comes from. */
  readonly #compiled = new WeakMap<object, Compiled>();

  constructor(build: (db: Db, p: P) => Compilable<R>) {
    this.#build = build;
  }

  /** The statement for these values, as Kysely itself would have compiled it. */
  compile(db: Db, values: P): CompiledQuery<R> {
    const compiled = this.#compiledFor(db);
    const parameters = compiled.slots.map((slot) => {
      if (!('name' in slot)) return slot.value;
      const value = values[slot.name];
      if (value === undefined) throw new Error(`query template: no value for "${slot.name}"`);
      return value;
    });
    return CompiledQuery.raw(compiled.sql, parameters) as CompiledQuery<R>;
  }

  execute(db: Db, values: P): Promise<QueryResult<R>> {
    return db.executeQuery(this.compile(db, values));
  }

  #compiledFor(db: Db): Compiled {
    const adapter = db.getExecutor().adapter;
    let compiled = this.#compiled.get(adapter);
    if (!compiled) {
      const placeholders = new Proxy({} as P, {
        get: (_, name) => `${placeholderPrefix}${String(name)}`,
      });
      const query = this.#build(db, placeholders).compile();
      compiled = {
        sql: query.sql,
        slots: query.parameters.map((value) =>
          typeof value === 'string' && value.startsWith(placeholderPrefix)
            ? { name: value.slice(placeholderPrefix.length) }
            : { value },
        ),
      };
      this.#compiled.set(adapter, compiled);
    }
    return compiled;
  }
}

/** An insert of one row into `table`, with these columns in this order, as a template. */
export function insertTemplate<T extends keyof Database & string>(
  table: T,
  columns: readonly (keyof Insertable<Database[T]> & string)[],
): QueryTemplate<Insertable<Database[T]> & Record<string, unknown>> {
  return new QueryTemplate((db, row) =>
    // Kysely cannot type a row whose table is a type parameter; the columns are checked above.
    db.insertInto(table).values(Object.fromEntries(columns.map((c) => [c, row[c]])) as never),
  );
}
