import type { Kysely, Transaction } from 'kysely';
import type { Database } from './database.ts';

export type Dialect = 'sqlite' | 'postgres';

/**
 * The store port. Reads go through `db`; every write goes through `transaction`, whose callback
 * receives a `Transaction` (not assignable from `Kysely`), which is what lets functions such as the
 * outbox writer demand to be called inside one.
 *
 * A transaction callback must only talk to the database: no network calls, no timers. The SQLite
 * store commits several callbacks together (group commit), so one that waits on the outside world
 * would hold up every other writer.
 */
export interface Store<DB = Database> {
  readonly dialect: Dialect;
  readonly db: Kysely<DB>;
  transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T>;
  /** Applies pending migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  /** True when the database answers and every known migration is applied. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

/** Amounts and times come back as number, bigint or (PostgreSQL int8) string; make them exact. */
export function toBigInt(value: number | bigint | string): bigint {
  return BigInt(value);
}

export function toNumber(value: number | bigint | string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`integer out of the safe range: ${value}`);
  return n;
}
