import type { Clock } from '../../platform/clock.ts';
import type { ConsumerDefinition } from '../../runtime/consumer.ts';
import type { Mailer } from './mailer.ts';
import { receiptEventTypes, receiptMessageId, renderReceipt } from './render.ts';

export interface ReceiptsConsumerDeps {
  mailer: Mailer;
  /** The From address (PAYSTREAM_RECEIPTS_FROM). */
  from: string;
  /** The locale amounts and dates are written for (PAYSTREAM_RECEIPTS_LOCALE). */
  locale: string;
  clock: Clock;
}

/** The provider name of the SMTP server: its circuit breaker's name. */
export const smtpProvider = 'smtp';

/**
 * The `receipts` consumer: one receipt per payment.succeeded or refund.succeeded. The email goes
 * out first, through the `smtp` breaker, with a Message-ID derived from the event id; then the
 * receipt is recorded in the same transaction as the inbox row. A crash between the two sends it
 * again on redelivery, as the same message (same Message-ID and Date), which a mail system or a
 * reader can recognise: at-least-once delivery with a deterministic idempotency key. A payment
 * without receipt_email gets no email, recorded as `no_recipient`. Declines are not subscribed.
 */
export function receiptsConsumer(deps: ReceiptsConsumerDeps): ConsumerDefinition {
  return {
    name: 'receipts',
    types: receiptEventTypes,
    providers: [smtpProvider],
    // Mail servers fail transiently (4xx, dropped connections) far more often than for good: ten
    // attempts, with backoff up to 30 s (about two minutes in all), before a receipt is parked in
    // the dead letters. At 30% of sends failing at random, 5 attempts dead-lettered about 1 in
    // 500 receipts (npm run bench:decoupling); 10 leave about 1 in 170,000.
    maxAttempts: 10,
    async handle(ctx) {
      const { event } = ctx;
      const receipt = renderReceipt(event, deps.locale);
      const messageId = receiptMessageId(event.id);
      const recipient = receipt.recipient;
      if (recipient !== null) {
        await ctx.effect(
          smtpProvider,
          `send ${receipt.kind} receipt ${messageId} to ${recipient}`,
          (signal) =>
            deps.mailer.send(
              {
                from: deps.from,
                to: recipient,
                subject: receipt.subject,
                text: receipt.text,
                html: receipt.html,
                messageId,
                date: new Date(event.time),
                headers: {
                  'X-Paystream-Merchant': receipt.merchantId,
                  'X-Paystream-Event-Id': event.id,
                  'Auto-Submitted': 'auto-generated',
                },
              },
              signal,
            ),
        );
      }
      const createdAt = deps.clock.now();
      await ctx.transaction(async (trx) => {
        // The inbox already keeps a redelivered event out; a replay that bypasses it finds the
        // receipt recorded, and the first record stands.
        await trx
          .insertInto('receipts')
          .values({
            event_id: event.id,
            kind: receipt.kind,
            payment_id: receipt.paymentId,
            refund_id: receipt.refundId,
            merchant_id: receipt.merchantId,
            recipient,
            status: recipient === null ? 'no_recipient' : 'sent',
            message_id: recipient === null ? null : messageId,
            created_at: createdAt,
          })
          .onConflict((oc) => oc.column('event_id').doNothing())
          .execute();
      });
    },
  };
}
