import type { Kysely } from 'kysely';
import type { MigrationSet } from '../../store/migrator.ts';

/** The embedded log's tables (its group leases are in the store's `leases`). */
export const eventLogMigrations: MigrationSet = {
  name: 'event_log',
  migrations: () => ({
    '0001_event_log': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('event_log')
          .addColumn('topic', 'text', (c) => c.notNull())
          .addColumn('offset', 'bigint', (c) => c.notNull())
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('headers', 'text', (c) => c.notNull())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('appended_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('event_log_pk', ['topic', 'offset'])
          .execute();
        await db.schema
          .createIndex('event_log_appended')
          .on('event_log')
          .columns(['topic', 'appended_at'])
          .execute();
        await db.schema
          .createTable('event_log_topics')
          .addColumn('topic', 'text', (c) => c.primaryKey())
          .addColumn('next_offset', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('event_log_offsets')
          .addColumn('group_name', 'text', (c) => c.notNull())
          .addColumn('topic', 'text', (c) => c.notNull())
          .addColumn('next_offset', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('event_log_offsets_pk', ['group_name', 'topic'])
          .execute();
      },
    },
  }),
};
