import type { Kysely } from 'kysely';
import type { MigrationSet } from '../store/migrator.ts';

/** The idempotency context's tables (see admin/migrations.ts for why the first uses IF NOT EXISTS). */
export const idempotencyMigrations: MigrationSet = {
  name: 'idempotency',
  migrations: () => ({
    '0001_idempotency_records': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('idempotency_records')
          .ifNotExists()
          .addColumn('api_key_id', 'text', (c) => c.notNull())
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('fingerprint', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('resource_id', 'text')
          .addColumn('response_status', 'integer')
          .addColumn('response_body', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('completed_at', 'bigint')
          .addPrimaryKeyConstraint('idempotency_records_pk', ['api_key_id', 'key'])
          .execute();
        await db.schema
          .createIndex('idempotency_records_created_at')
          .ifNotExists()
          .on('idempotency_records')
          .column('created_at')
          .execute();
        await db.schema
          .createIndex('idempotency_records_resource')
          .ifNotExists()
          .on('idempotency_records')
          .column('resource_id')
          .execute();
      },
    },
  }),
};
