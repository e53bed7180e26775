import type { Kysely } from 'kysely';
import type { MigrationSet } from '../../store/migrator.ts';

/** The receipts service's own tables (its own set: it adds migrations without touching another's). */
export const receiptsMigrations: MigrationSet = {
  name: 'receipts',
  migrations: () => ({
    '0001_receipts_and_mailbox': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('receipts')
          .addColumn('event_id', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('payment_id', 'text', (c) => c.notNull())
          .addColumn('refund_id', 'text')
          .addColumn('merchant_id', 'text', (c) => c.notNull())
          .addColumn('recipient', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('message_id', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        // "What receipts did this payment get?"
        await db.schema.createIndex('receipts_payment').on('receipts').columns(['payment_id']).execute();

        await db.schema
          .createTable('mailbox_messages')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('message_id', 'text')
          .addColumn('merchant_id', 'text')
          .addColumn('to_address', 'text', (c) => c.notNull())
          .addColumn('from_address', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('text', 'text')
          .addColumn('html', 'text')
          .addColumn('raw', 'text', (c) => c.notNull())
          .addColumn('received_at', 'bigint', (c) => c.notNull())
          .execute();
        // The mailbox API's question: a merchant's messages, newest first.
        await db.schema
          .createIndex('mailbox_messages_merchant')
          .on('mailbox_messages')
          .columns(['merchant_id', 'id'])
          .execute();
        // Counting deliveries of one receipt (a resend carries the same Message-ID).
        await db.schema
          .createIndex('mailbox_messages_message_id')
          .on('mailbox_messages')
          .columns(['message_id'])
          .execute();
      },
    },
  }),
};
