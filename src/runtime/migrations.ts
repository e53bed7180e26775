import type { Kysely } from 'kysely';
import type { MigrationSet } from '../store/migrator.ts';

/** The consumer runtime's tables: every consumer's inbox and dead letters (see tables.ts). */
export const runtimeMigrations: MigrationSet = {
  name: 'runtime',
  migrations: () => ({
    '0001_inbox_dead_letters': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('runtime_inbox')
          .addColumn('consumer', 'text', (c) => c.notNull())
          .addColumn('event_id', 'text', (c) => c.notNull())
          .addColumn('processed_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('runtime_inbox_pk', ['consumer', 'event_id'])
          .execute();
        // The purge's question: rows older than the retention.
        await db.schema
          .createIndex('runtime_inbox_processed_at')
          .on('runtime_inbox')
          .column('processed_at')
          .execute();
        await db.schema
          .createTable('runtime_dead_letters')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('consumer', 'text', (c) => c.notNull())
          .addColumn('event_id', 'text', (c) => c.notNull())
          .addColumn('event_type', 'text', (c) => c.notNull())
          .addColumn('partition_key', 'text', (c) => c.notNull())
          .addColumn('topic', 'text', (c) => c.notNull())
          .addColumn('partition', 'integer', (c) => c.notNull())
          .addColumn('offset', 'text', (c) => c.notNull())
          .addColumn('headers', 'text', (c) => c.notNull())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('error', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('discard_reason', 'text')
          .addColumn('claimed_by', 'text')
          .addColumn('claimed_at', 'bigint')
          .addColumn('redrives', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('runtime_dead_letters_event', ['consumer', 'event_id'])
          .execute();
        await db.schema
          .createIndex('runtime_dead_letters_status')
          .on('runtime_dead_letters')
          .columns(['consumer', 'status', 'id'])
          .execute();
      },
    },
  }),
};
