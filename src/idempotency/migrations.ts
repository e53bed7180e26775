import { type Kysely, sql } from 'kysely';
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
    '0002_scope_per_merchant_and_mode': {
      // Keys were scoped per API key; Stripe scopes them per account, so a client that retries
      // after rotating its key is still protected. The old primary key stays (a duplicate under one
      // API key is a duplicate under its merchant too); the unique index is the one claims use.
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('idempotency_records').addColumn('merchant_id', 'text').execute();
        await db.schema.alterTable('idempotency_records').addColumn('livemode', 'integer').execute();
        // A one-time backfill of the records already there (kept 24 h at most): the only place the
        // idempotency context reads another context's table, and only because those rows predate
        // the columns.
        await sql`UPDATE idempotency_records SET
            merchant_id = (SELECT k.merchant_id FROM api_keys k WHERE k.id = idempotency_records.api_key_id),
            livemode = (SELECT k.livemode FROM api_keys k WHERE k.id = idempotency_records.api_key_id)`.execute(
          db,
        );
        await db.schema
          .createIndex('idempotency_records_scope')
          .unique()
          .on('idempotency_records')
          .columns(['merchant_id', 'livemode', 'key'])
          .execute();
      },
    },
  }),
};
