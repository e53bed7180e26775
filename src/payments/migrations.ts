import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { MigrationSet } from '../store/migrator.ts';

/** Payments and refunds (see admin/migrations.ts for why the first migration uses IF NOT EXISTS). */
export const paymentsMigrations: MigrationSet = {
  name: 'payments',
  migrations: () => ({
    '0001_payments_and_refunds': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('payments')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('merchant_id', 'text', (c) => c.notNull())
          .addColumn('livemode', 'integer', (c) => c.notNull())
          .addColumn('customer_id', 'text', (c) => c.notNull())
          .addColumn('amount', 'bigint', (c) => c.notNull().check(sql`amount > 0`))
          .addColumn('currency', 'text', (c) => c.notNull())
          .addColumn('payment_method', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('failure_code', 'text')
          .addColumn('failure_message', 'text')
          .addColumn('gateway_charge_id', 'text')
          .addColumn('amount_refunded', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('amount_refund_reserved', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          // The database itself refuses an over-refund, whatever the code above it does.
          .addCheckConstraint(
            'payments_refunds_within_amount',
            sql`amount_refunded <= amount_refund_reserved AND amount_refund_reserved <= amount`,
          )
          .execute();
        for (const [name, columns] of [
          ['payments_merchant_customer', ['merchant_id', 'customer_id', 'id']],
          ['payments_merchant_id', ['merchant_id', 'id']],
          ['payments_status_updated', ['status', 'updated_at']],
        ] as Array<[string, string[]]>) {
          await db.schema.createIndex(name).ifNotExists().on('payments').columns(columns).execute();
        }

        await db.schema
          .createTable('refunds')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('payment_id', 'text', (c) => c.notNull().references('payments.id'))
          .addColumn('merchant_id', 'text', (c) => c.notNull())
          .addColumn('amount', 'bigint', (c) => c.notNull().check(sql`amount > 0`))
          .addColumn('currency', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('failure_reason', 'text')
          .addColumn('gateway_refund_id', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        for (const [name, columns] of [
          ['refunds_payment', ['payment_id', 'id']],
          ['refunds_status_updated', ['status', 'updated_at']],
        ] as Array<[string, string[]]>) {
          await db.schema.createIndex(name).ifNotExists().on('refunds').columns(columns).execute();
        }
      },
    },
    '0002_reconcile_backoff': {
      // When the reconciler may look at a stuck payment or refund again, and how often it has failed.
      async up(db: Kysely<unknown>) {
        for (const table of ['payments', 'refunds']) {
          await db.schema
            .alterTable(table)
            .addColumn('reconcile_attempts', 'integer', (c) => c.notNull().defaultTo(0))
            .execute();
          await db.schema.alterTable(table).addColumn('reconcile_next_at', 'bigint').execute();
        }
      },
    },
    '0003_reconcile_due_index': {
      // The reconciler's question (which stuck items are due, earliest first?) answered by an index
      // in due order that holds the stuck rows alone: a row leaves it when it settles, so it stays
      // small however large the table grows. The queries are in reconciler.ts (duePayments,
      // dueRefunds) and must keep matching these expressions. It replaces the (status, updated_at)
      // index of 0001, which only the reconciler used: that one cost a write on every payment,
      // and SQLite's planner preferred it and then sorted every stuck row.
      async up(db: Kysely<unknown>) {
        for (const [table, stuck] of [
          ['payments', 'processing'],
          ['refunds', 'pending'],
        ] as const) {
          await db.schema
            .createIndex(`${table}_reconcile_due`)
            .on(table)
            .expression(sql`coalesce(reconcile_next_at, updated_at)`)
            .where(sql.ref('status'), '=', stuck)
            .execute();
          await db.schema.dropIndex(`${table}_status_updated`).ifExists().execute();
        }
      },
    },
    '0004_receipt_fields': {
      // Where the payment's receipt goes and the name it shows (Stripe's `receipt_email` and
      // `statement_descriptor`): nullable, so adding them rewrites no row on either store.
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('payments').addColumn('receipt_email', 'text').execute();
        await db.schema.alterTable('payments').addColumn('statement_descriptor', 'text').execute();
      },
    },
  }),
};
