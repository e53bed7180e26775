import { type Kysely, type Migration, Migrator } from 'kysely';
import { migrations as paystreamMigrations } from './migrations/index.ts';
import type { Dialect } from './store.ts';

/** A named set of migrations: paystream's own, or a side database's such as the sandbox gateway's. */
export interface MigrationSet {
  /** Prefix of the bookkeeping tables (`<name>_migrations`, `<name>_migrations_lock`). */
  name: string;
  migrations(dialect: Dialect): Record<string, Migration>;
}

export const paystreamMigrationSet: MigrationSet = { name: 'paystream', migrations: paystreamMigrations };

export function migratorFor(db: Kysely<unknown>, dialect: Dialect, set = paystreamMigrationSet): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => set.migrations(dialect) },
    migrationTableName: `${set.name}_migrations`,
    migrationLockTableName: `${set.name}_migrations_lock`,
  });
}

export async function migrateToLatest(
  db: Kysely<unknown>,
  dialect: Dialect,
  set = paystreamMigrationSet,
): Promise<string[]> {
  const { error, results } = await migratorFor(db, dialect, set).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export async function migrationsPending(
  db: Kysely<unknown>,
  dialect: Dialect,
  set = paystreamMigrationSet,
): Promise<number> {
  const all = await migratorFor(db, dialect, set).getMigrations();
  return all.filter((m) => m.executedAt === undefined).length;
}
