import { type Kysely, type Migration, Migrator } from 'kysely';
import type { Dialect } from './store.ts';

/**
 * The migrations of one bounded context (payments, idempotency, ...) or of a side database (the
 * sandbox gateway's). Each set keeps its own bookkeeping tables, `<name>_migrations` and
 * `<name>_migrations_lock`, so contexts add migrations without ordering against each other.
 */
export interface MigrationSet {
  name: string;
  migrations(dialect: Dialect): Record<string, Migration>;
}

function migratorFor(db: Kysely<unknown>, dialect: Dialect, set: MigrationSet): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => set.migrations(dialect) },
    migrationTableName: `${set.name}_migrations`,
    migrationLockTableName: `${set.name}_migrations_lock`,
  });
}

/**
 * Applies the pending migrations of every set, set by set in the order given (a set may rely on an
 * earlier one's tables). Returns what was applied as `<set>/<migration>`.
 */
export async function migrateToLatest(
  db: Kysely<unknown>,
  dialect: Dialect,
  sets: readonly MigrationSet[],
): Promise<string[]> {
  const applied: string[] = [];
  for (const set of sets) {
    const { error, results } = await migratorFor(db, dialect, set).migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error(String(error));
    for (const r of results ?? []) if (r.status === 'Success') applied.push(`${set.name}/${r.migrationName}`);
  }
  return applied;
}

/** How many migrations of these sets are not applied yet. */
export async function migrationsPending(
  db: Kysely<unknown>,
  dialect: Dialect,
  sets: readonly MigrationSet[],
): Promise<number> {
  let pending = 0;
  for (const set of sets) {
    const all = await migratorFor(db, dialect, set).getMigrations();
    pending += all.filter((m) => m.executedAt === undefined).length;
  }
  return pending;
}
