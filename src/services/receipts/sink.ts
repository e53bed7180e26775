import type { AddressObject } from 'mailparser';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Clock } from '../../platform/clock.ts';
import type { IdGenerator } from '../../platform/ids.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Store } from '../../store/store.ts';

export interface SmtpSinkOptions {
  store: Store;
  ids: IdGenerator;
  clock: Clock;
  log: Logger;
  /** 0: any free port. */
  port: number;
  host?: string;
  /** Largest message kept, in bytes; a larger one is refused with 552. */
  messageBytesMax?: number;
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  /** False when the port was taken (another paystream process's sink): this one runs nothing. */
  readonly owned: boolean;
  close(): Promise<void>;
}

export const sinkMessageBytesMaxDefault = 1_048_576;

function addressText(address: AddressObject | AddressObject[] | undefined): string | undefined {
  if (address === undefined) return undefined;
  return (Array.isArray(address) ? address : [address]).map((a) => a.text).join(', ');
}

/** A 4xx answer: the sender keeps the message and tries again later. */
function temporaryFailure(message: string): Error {
  return Object.assign(new Error(message), { responseCode: 451 });
}

/**
 * Parses one received message and keeps it in `mailbox_messages`. The parsing happens before the
 * store transaction, which only inserts: the SQLite store commits transactions in groups, so one
 * must never wait on anything but the database.
 */
async function keep(options: SmtpSinkOptions, raw: Buffer, session: SMTPServerSession): Promise<void> {
  const parsed = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true });
  const merchant = parsed.headers.get('x-paystream-merchant');
  const row = {
    id: options.ids.resource('msg'),
    message_id: parsed.messageId ?? null,
    merchant_id: typeof merchant === 'string' ? merchant.trim() : null,
    to_address:
      addressText(parsed.to) ?? session.envelope.rcptTo.map((recipient) => recipient.address).join(', '),
    from_address:
      addressText(parsed.from) ?? (session.envelope.mailFrom ? session.envelope.mailFrom.address : ''),
    subject: parsed.subject ?? '',
    text: parsed.text ?? null,
    html: typeof parsed.html === 'string' ? parsed.html : null,
    raw: raw.toString('utf8'),
    received_at: options.clock.now(),
  };
  await options.store.transaction(async (trx) => {
    await trx.insertInto('mailbox_messages').values(row).execute();
  });
}

/**
 * The local SMTP sink: an SMTP server on 127.0.0.1 that accepts every message and keeps it in the
 * store, for the mailbox API. It answers 250 only once the message is committed, so a message the
 * sender saw accepted is never lost. No TLS, no AUTH: it listens on the loopback interface only.
 *
 * If the port is taken, another paystream process on this machine runs the sink already: this one
 * starts nothing and its consumer sends there (`owned: false`).
 */
export async function startSmtpSink(options: SmtpSinkOptions): Promise<SmtpSink> {
  const host = options.host ?? '127.0.0.1';
  const messageBytesMax = options.messageBytesMax ?? sinkMessageBytesMaxDefault;
  const server = new SMTPServer({
    name: 'paystream-sink',
    banner: 'paystream local SMTP sink',
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    // Every client is on the loopback interface: a reverse DNS lookup per connection only adds latency.
    disableReverseLookup: true,
    size: messageBytesMax,
    logger: false,
    // On close, a connection still talking gets this long to finish its message.
    closeTimeout: 2_000,
    onData(
      stream: SMTPServerDataStream,
      session: SMTPServerSession,
      callback: (error?: Error | null) => void,
    ) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          callback(Object.assign(new Error('message larger than the sink keeps'), { responseCode: 552 }));
          return;
        }
        keep(options, Buffer.concat(chunks), session).then(
          () => callback(),
          (error: unknown) => {
            options.log.error({ err: error }, 'the SMTP sink could not keep a message');
            callback(temporaryFailure('the sink could not keep the message; try again'));
          },
        );
      });
    },
  });
  server.on('error', (error: Error) => options.log.warn({ err: error }, 'SMTP sink error'));

  const listening = await new Promise<boolean>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(false);
      else reject(error);
    };
    server.server.once('error', onError);
    server.listen(options.port, host, () => {
      server.server.off('error', onError);
      resolve(true);
    });
  });
  if (!listening) {
    options.log.info(
      { host, port: options.port },
      'the SMTP sink port is taken (another paystream process runs the sink): receipts go to that one',
    );
    return { host, port: options.port, owned: false, close: async () => undefined };
  }
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  options.log.info({ host, port }, 'SMTP sink listening: receipts are kept for GET /v1/mailbox');
  return {
    host,
    port,
    owned: true,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
