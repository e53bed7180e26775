import type { Service } from '../../runtime/service.ts';
import { receiptsConsumer } from './consumer.ts';
import { smtpMailer } from './mailer.ts';
import { receiptsMigrations } from './migrations.ts';
import { mailboxRoutes } from './routes.ts';
import { receiptsSettings, receiptsVariables } from './settings.ts';
import { type SmtpSink, startSmtpSink } from './sink.ts';

/**
 * Email receipts: on payment.succeeded and refund.succeeded, a receipt to the payment's
 * receipt_email, over SMTP (PAYSTREAM_SMTP_URL). With no SMTP server configured, the service runs
 * a local SMTP sink that keeps every message in the store, and the API shows them at
 * GET /v1/mailbox. See docs/services/receipts.md.
 */
export const receiptsService: Service = {
  name: 'receipts',
  variables: receiptsVariables,
  migrations: receiptsMigrations,
  routes: mailboxRoutes,
  consumerNames: ['receipts'],
  async start(context) {
    const settings = receiptsSettings(context.env);
    let sink: SmtpSink | undefined;
    let url = settings.smtpUrl;
    if (url === undefined) {
      sink = await startSmtpSink({
        store: context.store,
        ids: context.ids,
        clock: context.clock,
        log: context.log,
        port: settings.sinkPort,
      });
      url = `smtp://${sink.host}:${sink.port}`;
    }
    const mailer = smtpMailer(url);
    return {
      consumers: [
        receiptsConsumer({ mailer, from: settings.from, locale: settings.locale, clock: context.clock }),
      ],
      async close() {
        mailer.close();
        await sink?.close();
      },
    };
  },
};

export { receiptsConsumer } from './consumer.ts';
export { receiptsMigrations } from './migrations.ts';
export { mailboxRoutes } from './routes.ts';
export { receiptsVariables } from './settings.ts';
export { startSmtpSink } from './sink.ts';
