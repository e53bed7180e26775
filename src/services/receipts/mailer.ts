import nodemailer from 'nodemailer';
import { EffectRejectedError } from '../../runtime/errors.ts';

/** One email, as the receipts consumer hands it over. */
export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Derived from the event id: a resend carries the same one. */
  messageId: string;
  /** The event's time: a resend is the same message, dated the same. */
  date: Date;
  headers: Readonly<Record<string, string>>;
}

export interface Mailer {
  /** Resolves once the server accepted the message; throws when it did not, or when `signal` aborts. */
  send(mail: OutgoingMail, signal: AbortSignal): Promise<void>;
  close(): void;
}

/**
 * Limits on one send, so that a server that hangs fails the attempt (and the runtime's retry and
 * breaker decide) rather than holding it for nodemailer's defaults of minutes. Each is well under the
 * consumer's 30 s attempt timeout.
 */
export const smtpConnectionTimeoutMs = 5_000;
export const smtpGreetingTimeoutMs = 5_000;
export const smtpSocketTimeoutMs = 15_000;
export const smtpDnsTimeoutMs = 5_000;

/** Connections kept open to the server, and messages sent on one before it is replaced. */
export const smtpConnectionsMax = 8;
export const smtpMessagesPerConnectionMax = 100;

/**
 * A permanent refusal of this message (a 5xx answer to its RCPT TO or to its DATA: no such
 * mailbox, content refused) is the message's fault, not the server's: EffectRejectedError, which
 * does not trip the breaker (src/runtime/errors.ts). Anything else (connection refused or cut,
 * timeouts, 4xx "try again later", a 5xx to the greeting, AUTH or MAIL FROM, which every message
 * would get) is the provider's: the breaker counts it.
 */
export function rejectionOf(error: unknown): EffectRejectedError | undefined {
  const { responseCode, command } = (error ?? {}) as { responseCode?: unknown; command?: unknown };
  if (typeof responseCode !== 'number' || responseCode < 500 || responseCode > 599) return undefined;
  if (typeof command !== 'string' || !/^(RCPT TO|DATA)\b/i.test(command)) return undefined;
  return new EffectRejectedError(`the SMTP server refused this receipt: ${(error as Error).message}`, {
    cause: error,
  });
}

/**
 * An SMTP mailer for `url`: `smtp://host:port` (STARTTLS when the server offers it) or
 * `smtps://host:port` (TLS from the start), with `user:password@` for AUTH. Pooled: a greeting and
 * EHLO cost a round trip or more (smtp-server waits 100 ms before it greets), so connections are
 * reused. An aborted send closes the connection that carried it (nodemailer's pool does), so nothing
 * half-sent is reused.
 */
export function smtpMailer(url: string): Mailer {
  const parsed = new URL(url);
  const secure = parsed.protocol === 'smtps:';
  const transport = nodemailer.createTransport({
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : secure ? 465 : 25,
    secure,
    pool: true,
    maxConnections: smtpConnectionsMax,
    maxMessages: smtpMessagesPerConnectionMax,
    ...(parsed.username
      ? { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } }
      : {}),
    connectionTimeout: smtpConnectionTimeoutMs,
    greetingTimeout: smtpGreetingTimeoutMs,
    socketTimeout: smtpSocketTimeoutMs,
    dnsTimeout: smtpDnsTimeoutMs,
  });
  return {
    async send(mail, signal) {
      signal.throwIfAborted();
      try {
        await transport.sendMail({
          from: mail.from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          messageId: mail.messageId,
          date: mail.date,
          headers: { ...mail.headers },
          signal,
        });
      } catch (error) {
        throw rejectionOf(error) ?? error;
      }
    },
    close() {
      // The consumers have stopped: a delivery still running has been given up on.
      transport.close({ force: true });
    },
  };
}
