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
      // after rotating its key is still protected. The primary key becomes (merchant_id, livemode,
      // key): a table rebuild, the one way both SQLite and PostgreSQL change a primary key.
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('idempotency_records_v2')
          .addColumn('merchant_id', 'text', (c) => c.notNull())
          .addColumn('livemode', 'integer', (c) => c.notNull())
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('api_key_id', 'text', (c) => c.notNull())
          .addColumn('fingerprint', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('resource_id', 'text')
          .addColumn('response_status', 'integer')
          .addColumn('response_body', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('completed_at', 'bigint')
          .addPrimaryKeyConstraint('idempotency_records_scope_pk', ['merchant_id', 'livemode', 'key'])
          .execute();
        // The records already there (24 h of them at most) take their scope from their API key: the
        // one place the idempotency context reads another context's table, because those rows
        // predate the columns. Every record has its key (keys are revoked, never deleted).
        // Two API keys of one merchant and mode may each hold the same key; the new scope has room
        // for one, and a duplicate would fail the upgrade (the process could not start). The one
        // kept is in flight if either is (its request awaits its outcome and a retry must find it),
        // else the newest. A retry of the other request then gets 422 or 409, never a new charge.
        await sql`INSERT INTO idempotency_records_v2 (merchant_id, livemode, key, api_key_id, fingerprint, state,
                    resource_id, response_status, response_body, created_at, completed_at)
                  SELECT merchant_id, livemode, key, api_key_id, fingerprint, state, resource_id,
                         response_status, response_body, created_at, completed_at
                  FROM (SELECT k.merchant_id, k.livemode, r.key, r.api_key_id, r.fingerprint, r.state,
                               r.resource_id, r.response_status, r.response_body, r.created_at, r.completed_at,
                               row_number() OVER (
                                 PARTITION BY k.merchant_id, k.livemode, r.key
                                 ORDER BY CASE r.state WHEN 'in_flight' THEN 0 ELSE 1 END,
                                          r.created_at DESC, r.api_key_id
                               ) AS rank_in_scope
                        FROM idempotency_records r JOIN api_keys k ON k.id = r.api_key_id) ranked
                  WHERE rank_in_scope = 1`.execute(db);
        await db.schema.dropTable('idempotency_records').execute();
        await db.schema.alterTable('idempotency_records_v2').renameTo('idempotency_records').execute();
        await db.schema
          .createIndex('idempotency_records_created_at')
          .on('idempotency_records')
          .column('created_at')
          .execute();
        await db.schema
          .createIndex('idempotency_records_resource')
          .on('idempotency_records')
          .column('resource_id')
          .execute();
      },
    },
  }),
};
