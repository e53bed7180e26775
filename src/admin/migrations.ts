import type { Kysely } from 'kysely';
import type { MigrationSet } from '../store/migrator.ts';

/**
 * The admin context's tables. A released migration is never edited: add a new one. The first
 * migration of each context uses IF NOT EXISTS so that a database made before the tables were split
 * by context (one `0001_payment_core` migration) adopts its existing tables unchanged.
 */
export const adminMigrations: MigrationSet = {
  name: 'admin',
  migrations: () => ({
    '0001_api_keys': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('api_keys')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('merchant_id', 'text', (c) => c.notNull())
          .addColumn('livemode', 'integer', (c) => c.notNull())
          .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
          .addColumn('redacted', 'text', (c) => c.notNull())
          .addColumn('name', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .execute();
      },
    },
    '0002_key_roles': {
      // Dead letters and consumers are the platform's, not a merchant's: an `admin` key reaches
      // /v1/admin and nothing else; every key made before is a merchant's.
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('api_keys')
          .addColumn('role', 'text', (c) => c.notNull().defaultTo('merchant'))
          .execute();
      },
    },
  }),
};
