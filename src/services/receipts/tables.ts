import type { Int64 } from '../../store/database.ts';

/** One row per success event the receipts consumer handled: what became of its receipt. */
export interface ReceiptsTable {
  /** The event's id (UUIDv7): one receipt per event. */
  event_id: string;
  kind: 'payment' | 'refund';
  payment_id: string;
  /** Set for a refund's receipt. */
  refund_id: string | null;
  merchant_id: string;
  /** The address it went to; null when the payment had none. */
  recipient: string | null;
  /** `sent`: handed to the SMTP server; `no_recipient`: the payment had no receipt_email. */
  status: 'sent' | 'no_recipient';
  /** The Message-ID it was sent with (derived from the event id); null when nothing was sent. */
  message_id: string | null;
  /** Epoch milliseconds. */
  created_at: Int64;
}

/**
 * Every message the local SMTP sink received (embedded mode, or wherever PAYSTREAM_SMTP_URL is
 * unset), kept in the store so that any process on it can show them (GET /v1/mailbox).
 */
export interface MailboxMessagesTable {
  /** `msg_` + 26 base32 characters: sorts by arrival. */
  id: string;
  /** The message's Message-ID header, angle brackets included; null if it had none. */
  message_id: string | null;
  /** The X-Paystream-Merchant header: whose mailbox lists it. Null: nobody's. */
  merchant_id: string | null;
  to_address: string;
  from_address: string;
  subject: string;
  text: string | null;
  html: string | null;
  /** The whole message as received (RFC 5322). */
  raw: string;
  /** Epoch milliseconds. */
  received_at: Int64;
}

declare module '../../store/database.ts' {
  interface Database {
    receipts: ReceiptsTable;
    mailbox_messages: MailboxMessagesTable;
  }
}
