import type { Kysely } from 'kysely';
import type { MigrationSet } from '../store/migrator.ts';

/** The outbox (see admin/migrations.ts for why the first migration uses IF NOT EXISTS). */
export const eventsMigrations: MigrationSet = {
  name: 'events',
  migrations: (dialect) => ({
    '0001_outbox': {
      async up(db: Kysely<unknown>) {
        let outbox = db.schema.createTable('outbox').ifNotExists();
        // The one column type that differs: an auto-incremented 64-bit position.
        outbox =
          dialect === 'postgres'
            ? outbox.addColumn('position', 'bigserial', (c) => c.primaryKey())
            : outbox.addColumn('position', 'integer', (c) => c.primaryKey().autoIncrement());
        await outbox
          .addColumn('event_id', 'text', (c) => c.notNull().unique())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('partition_key', 'text', (c) => c.notNull())
          .addColumn('envelope', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
  }),
};
