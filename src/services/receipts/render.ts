import type { CloudEvent } from '../../events/envelope.ts';
import { memo } from '../../platform/memo.ts';
import { formatAmount } from './money.ts';

/** The fields of payment.succeeded v2 a receipt uses (the event is validated before it gets here). */
interface PaymentSucceeded {
  payment_id: string;
  merchant_id: string;
  amount: number;
  currency: string;
  description: string | null;
  created: number;
  receipt_email: string | null;
  statement_descriptor: string | null;
}

/** The fields of refund.succeeded v2 a receipt uses. */
interface RefundSucceeded {
  refund_id: string;
  payment_id: string;
  merchant_id: string;
  amount: number;
  currency: string;
  payment_amount: number;
  payment_amount_refunded: number;
  created: number;
  receipt_email: string | null;
  statement_descriptor: string | null;
}

export interface Receipt {
  kind: 'payment' | 'refund';
  paymentId: string;
  refundId: string | null;
  merchantId: string;
  /** Where it goes; null: the payment has no receipt_email, so nothing is sent. */
  recipient: string | null;
  subject: string;
  text: string;
  html: string;
}

export const receiptEventTypes = ['payment.succeeded', 'refund.succeeded'] as const;

/** Text a client or a merchant wrote, made safe for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** One line for a header or a text line: control characters (line breaks) become spaces. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

/** The date in UTC, said so (dateStyle cannot be combined with timeZoneName). */
function formatDate(epochSeconds: number, locale: string): string {
  return `${dateFormat(locale).format(new Date(epochSeconds * 1000))} UTC`;
}
const dateFormat = memo(
  (locale) => new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' }),
);

/** A receipt's rows: label and value, the same in the text and the HTML part. */
type Row = readonly [label: string, value: string];

function textOf(title: string, rows: readonly Row[], footer: string): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return [
    title,
    '',
    ...rows.map(([label, value]) => `${`${label}:`.padEnd(width + 2)}${oneLine(value)}`),
    '',
    footer,
    '',
  ].join('\n');
}

function htmlOf(title: string, rows: readonly Row[], footer: string): string {
  const cells = rows
    .map(
      ([label, value]) =>
        `<tr><th align="left" style="padding:4px 16px 4px 0">${escapeHtml(label)}</th>` +
        `<td style="padding:4px 0">${escapeHtml(value)}</td></tr>`,
    )
    .join('\n');
  return [
    '<!doctype html>',
    '<html><head><meta charset="utf-8"><title>' + escapeHtml(title) + '</title></head>',
    '<body style="font-family:sans-serif;color:#222">',
    `<h1 style="font-size:20px">${escapeHtml(title)}</h1>`,
    `<table>\n${cells}\n</table>`,
    `<p style="color:#666;font-size:12px">${escapeHtml(footer)}</p>`,
    '</body></html>',
    '',
  ].join('\n');
}

/**
 * The receipt for a payment.succeeded or refund.succeeded event (current version, as readEvent
 * returns it), for a reader of `locale`. The merchant's name is the payment's statement descriptor,
 * or its account id when it has none. Every text that came from a client is escaped in the HTML.
 */
export function renderReceipt(event: CloudEvent, locale: string): Receipt {
  if (event.type === 'payment.succeeded') {
    const p = event.data as PaymentSucceeded;
    const merchant = oneLine(p.statement_descriptor ?? '') || p.merchant_id;
    const amount = formatAmount(p.amount, p.currency, locale);
    const rows: Row[] = [
      ['Amount paid', amount],
      ['Date', formatDate(p.created, locale)],
      ['Merchant', merchant],
      ['Payment', p.payment_id],
    ];
    if (p.description) rows.push(['Description', p.description]);
    const title = `Receipt from ${merchant}`;
    const footer = `You paid ${merchant} ${amount}. Keep this email as your receipt.`;
    return {
      kind: 'payment',
      paymentId: p.payment_id,
      refundId: null,
      merchantId: p.merchant_id,
      recipient: p.receipt_email,
      subject: `Your receipt from ${merchant}: ${amount}`,
      text: textOf(title, rows, footer),
      html: htmlOf(title, rows, footer),
    };
  }
  if (event.type === 'refund.succeeded') {
    const r = event.data as RefundSucceeded;
    const merchant = oneLine(r.statement_descriptor ?? '') || r.merchant_id;
    const amount = formatAmount(r.amount, r.currency, locale);
    const rows: Row[] = [
      ['Amount refunded', amount],
      ['Date', formatDate(r.created, locale)],
      ['Merchant', merchant],
      ['Refund', r.refund_id],
      ['Refund of payment', r.payment_id],
      ['Payment amount', formatAmount(r.payment_amount, r.currency, locale)],
      ['Refunded in total', formatAmount(r.payment_amount_refunded, r.currency, locale)],
    ];
    const title = `Refund from ${merchant}`;
    const footer = `${merchant} refunded ${amount} of your payment ${r.payment_id}.`;
    return {
      kind: 'refund',
      paymentId: r.payment_id,
      refundId: r.refund_id,
      merchantId: r.merchant_id,
      recipient: r.receipt_email,
      subject: `Your refund from ${merchant}: ${amount}`,
      text: textOf(title, rows, footer),
      html: htmlOf(title, rows, footer),
    };
  }
  throw new Error(
    `no receipt for ${event.type} (the receipts consumer takes ${receiptEventTypes.join(', ')})`,
  );
}

/** The Message-ID of an event's receipt: the same on every resend, so a duplicate is recognisable. */
export function receiptMessageId(eventId: string): string {
  return `<${eventId}@receipts.paystream>`;
}
