import type { Kysely } from 'kysely';
import type { MigrationSet } from '../migrator.ts';

export const leaseMigrations: MigrationSet = {
  name: 'leases',
  migrations: () => ({
    '0001_leases': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('leases')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
  }),
};
