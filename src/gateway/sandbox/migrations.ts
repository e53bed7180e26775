import type { Kysely, Migration } from 'kysely';
import { sql } from 'kysely';
import type { MigrationSet } from '../../store/migrator.ts';

/**
 * Migrations of the sandbox gateway's database. Same rule as paystream's own: a released migration
 * is never edited, a new one is added. The sandbox only runs on SQLite, so the dialect is unused.
 */
function sandboxMigrations(): Record<string, Migration> {
  return {
    '0001_charges_and_refunds': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('charges')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
          .addColumn('fingerprint', 'text', (c) => c.notNull())
          .addColumn('amount', 'bigint', (c) => c.notNull().check(sql`amount > 0`))
          .addColumn('currency', 'text', (c) => c.notNull())
          .addColumn('payment_method', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('decline_code', 'text')
          .addColumn('failure_message', 'text')
          .addColumn('amount_refunded', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          // The gateway never over-refunds either, whatever the code above the table does.
          .addCheckConstraint(
            'charges_refunds_within_amount',
            sql`amount_refunded >= 0 AND amount_refunded <= amount`,
          )
          .execute();

        await db.schema
          .createTable('refunds')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
          .addColumn('fingerprint', 'text', (c) => c.notNull())
          .addColumn('charge_id', 'text', (c) => c.notNull().references('charges.id'))
          .addColumn('amount', 'bigint', (c) => c.notNull().check(sql`amount > 0`))
          .addColumn('currency', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('failure_reason', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('refunds_charge').on('refunds').columns(['charge_id', 'id']).execute();
      },
    },
  };
}

/** Bookkeeping tables `sandbox_gateway_migrations*`, apart from paystream's. */
export const sandboxMigrationSet: MigrationSet = { name: 'sandbox_gateway', migrations: sandboxMigrations };
