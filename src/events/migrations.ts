import { type Kysely, sql } from 'kysely';
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
        // Every published event is written here once more, so it carries as few B-trees as it can:
        // the key (ids are UUIDv7, in time order: retention deletes a range of it) and the API's
        // index; SQLite keeps the rows in the key's B-tree itself (WITHOUT ROWID), not in a second one.
        let events = db.schema
          .createTable('events')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('merchant_id', 'text')
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('envelope', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('published_at', 'bigint', (c) => c.notNull());
        if (dialect === 'sqlite') events = events.modifyEnd(sql`without rowid`);
        await events.execute();
        // The API's question: a merchant's events, newest first.
        await db.schema
          .createIndex('events_merchant_id')
          .on('events')
          .columns(['merchant_id', 'id'])
          .execute();
      },
    },
  }),
};
