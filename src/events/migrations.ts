import type { Kysely } from 'kysely';
import type { MigrationSet } from '../store/migrator.ts';

/**
 * The outbox, and the published events kept for the events API (see admin/migrations.ts for why
 * the first migration uses IF NOT EXISTS).
 */
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
    '0002_events': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('events')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('merchant_id', 'text')
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('envelope', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('published_at', 'bigint', (c) => c.notNull())
          .execute();
        // The API's question: a merchant's events, newest first (ids are UUIDv7, in time order).
        await db.schema
          .createIndex('events_merchant_id')
          .on('events')
          .columns(['merchant_id', 'id'])
          .execute();
        // Retention: the oldest first.
        await db.schema.createIndex('events_created_at').on('events').column('created_at').execute();
      },
    },
  }),
};
