import { type Kysely, Migrator } from 'kysely';
import { migrations } from './migrations/index.ts';
import type { Dialect } from './store.ts';

export function migratorFor(db: Kysely<unknown>, dialect: Dialect): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations(dialect) },
    migrationTableName: 'paystream_migrations',
    migrationLockTableName: 'paystream_migrations_lock',
  });
}

export async function migrateToLatest(db: Kysely<unknown>, dialect: Dialect): Promise<string[]> {
  const { error, results } = await migratorFor(db, dialect).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export async function migrationsPending(db: Kysely<unknown>, dialect: Dialect): Promise<number> {
  const all = await migratorFor(db, dialect).getMigrations();
  return all.filter((m) => m.executedAt === undefined).length;
}
