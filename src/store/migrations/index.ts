import type { Kysely, Migration } from 'kysely';
import { sql } from 'kysely';
import type { Dialect } from '../store.ts';

/**
 * Versioned migrations, applied in name order on start and by `paystream migrate`. A migration is
 * never edited once released: add a new one. The dialect is passed in for the few types that differ.
 */
export function migrations(dialect: Dialect): Record<string, Migration> {
  const bigint = 'bigint' as const;
  return {
    '0001_payment_core': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('api_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('merchant_id', 'text', (c) => c.notNull())
          .addColumn('livemode', 'integer', (c) => c.notNull())
          .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
          .addColumn('redacted', 'text', (c) => c.notNull())
          .addColumn('name', 'text')
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addColumn('revoked_at', bigint)
          .execute();

        await db.schema
          .createTable('idempotency_records')
          .addColumn('api_key_id', 'text', (c) => c.notNull())
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('fingerprint', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('resource_id', 'text')
          .addColumn('response_status', 'integer')
          .addColumn('response_body', 'text')
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addColumn('completed_at', bigint)
          .addPrimaryKeyConstraint('idempotency_records_pk', ['api_key_id', 'key'])
          .execute();
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

        await db.schema
          .createTable('payments')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('merchant_id', 'text', (c) => c.notNull())
          .addColumn('livemode', 'integer', (c) => c.notNull())
          .addColumn('customer_id', 'text', (c) => c.notNull())
          .addColumn('amount', bigint, (c) => c.notNull().check(sql`amount > 0`))
          .addColumn('currency', 'text', (c) => c.notNull())
          .addColumn('payment_method', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('failure_code', 'text')
          .addColumn('failure_message', 'text')
          .addColumn('gateway_charge_id', 'text')
          .addColumn('amount_refunded', bigint, (c) => c.notNull().defaultTo(0))
          .addColumn('amount_refund_reserved', bigint, (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addColumn('updated_at', bigint, (c) => c.notNull())
          // The database itself refuses an over-refund, whatever the code above it does.
          .addCheckConstraint(
            'payments_refunds_within_amount',
            sql`amount_refunded <= amount_refund_reserved AND amount_refund_reserved <= amount`,
          )
          .execute();
        await db.schema
          .createIndex('payments_merchant_customer')
          .on('payments')
          .columns(['merchant_id', 'customer_id', 'id'])
          .execute();
        await db.schema
          .createIndex('payments_merchant_id')
          .on('payments')
          .columns(['merchant_id', 'id'])
          .execute();
        await db.schema
          .createIndex('payments_status_updated')
          .on('payments')
          .columns(['status', 'updated_at'])
          .execute();

        await db.schema
          .createTable('refunds')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('payment_id', 'text', (c) => c.notNull().references('payments.id'))
          .addColumn('merchant_id', 'text', (c) => c.notNull())
          .addColumn('amount', bigint, (c) => c.notNull().check(sql`amount > 0`))
          .addColumn('currency', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('metadata', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('failure_reason', 'text')
          .addColumn('gateway_refund_id', 'text')
          .addColumn('created_at', bigint, (c) => c.notNull())
          .addColumn('updated_at', bigint, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('refunds_payment').on('refunds').columns(['payment_id', 'id']).execute();
        await db.schema
          .createIndex('refunds_status_updated')
          .on('refunds')
          .columns(['status', 'updated_at'])
          .execute();

        let outbox = db.schema.createTable('outbox');
        outbox =
          dialect === 'postgres'
            ? outbox.addColumn('position', 'bigserial', (c) => c.primaryKey())
            : outbox.addColumn('position', 'integer', (c) => c.primaryKey().autoIncrement());
        await outbox
          .addColumn('event_id', 'text', (c) => c.notNull().unique())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('partition_key', 'text', (c) => c.notNull())
          .addColumn('envelope', 'text', (c) => c.notNull())
          .addColumn('created_at', bigint, (c) => c.notNull())
          .execute();
      },
    },
  };
}
