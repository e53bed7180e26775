import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

/**
 * An SMTP server for tests that stands in for a mail provider: it records every message it accepts
 * (Message-ID, X-Paystream-Event-Id, envelope recipients) and every recipient it refuses, and a test
 * can switch how it behaves while paystream sends to it: accept everything, refuse one recipient
 * with a permanent 550, go down (stop listening and drop every connection, then listen again on the
 * same port), or answer slowly. It knows nothing of paystream's code: it reads the raw message.
 */

export interface ReceivedMessage {
  /** The Message-ID header, angle brackets included ('' when the message had none). */
  messageId: string;
  /** The X-Paystream-Event-Id header, if any. */
  eventId: string | undefined;
  /** The envelope recipients (RCPT TO), lower-cased. */
  to: string[];
  /** Epoch milliseconds at which the server answered 250 to the DATA. */
  acceptedAt: number;
}

export interface RefusedRecipient {
  address: string;
  code: number;
  at: number;
}

/** The message's header block, unfolded, as name (lower case) -> first value. */
export function headersOf(raw: string): Map<string, string> {
  const end = raw.search(/\r?\n\r?\n/);
  const block = (end < 0 ? raw : raw.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return headers;
}

export class TestSmtpServer {
  readonly host = '127.0.0.1';
  #port = 0;
  /** Every message accepted, in order of acceptance. */
  readonly messages: ReceivedMessage[] = [];
  /** Every RCPT TO refused. */
  readonly refused: RefusedRecipient[] = [];
  /** Connections opened to the server, in all. */
  connections = 0;
  readonly #rejected = new Map<string, number>();
  #delayMs = 0;
  #server: SMTPServer | undefined;
  readonly #sockets = new Set<Socket>();

  private constructor() {}

  /** Starts listening on 127.0.0.1 (`port` 0: any free port; `up()` later takes the same one). */
  static async start(port = 0): Promise<TestSmtpServer> {
    const server = new TestSmtpServer();
    server.#port = await server.#listen(port);
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** `smtp://127.0.0.1:<port>`, for PAYSTREAM_SMTP_URL. */
  get url(): string {
    return `smtp://${this.host}:${this.port}`;
  }

  get listening(): boolean {
    return this.#server !== undefined;
  }

  /** Refuses RCPT TO `address` with `code` (550: permanent) until `accept(address)`. */
  reject(address: string, code = 550): void {
    this.#rejected.set(address.toLowerCase(), code);
  }

  accept(address: string): void {
    this.#rejected.delete(address.toLowerCase());
  }

  /** Holds every DATA this long before answering (0: at once). */
  slow(delayMs: number): void {
    this.#delayMs = delayMs;
  }

  /** Stops listening and drops every open connection: a provider that is down. */
  async down(): Promise<void> {
    await this.#close();
  }

  /** Listens again on the same port. */
  async up(): Promise<void> {
    if (this.#server) return;
    await this.#listen(this.#port);
  }

  async close(): Promise<void> {
    await this.#close();
  }

  /** How many times each Message-ID was accepted. */
  countsByMessageId(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const m of this.messages) counts.set(m.messageId, (counts.get(m.messageId) ?? 0) + 1);
    return counts;
  }

  /** The messages accepted for `address`. */
  messagesTo(address: string): ReceivedMessage[] {
    const to = address.toLowerCase();
    return this.messages.filter((m) => m.to.includes(to));
  }

  #listen(port: number): Promise<number> {
    const server = new SMTPServer({
      name: 'test-smtp',
      banner: 'paystream test SMTP server',
      disabledCommands: ['STARTTLS', 'AUTH'],
      authOptional: true,
      disableReverseLookup: true,
      logger: false,
      closeTimeout: 100,
      onConnect: (_session: SMTPServerSession, callback: (error?: Error | null) => void) => {
        this.connections += 1;
        callback();
      },
      onRcptTo: (address, _session, callback) => {
        const code = this.#rejected.get(address.address.toLowerCase());
        if (code === undefined) {
          callback();
          return;
        }
        this.refused.push({ address: address.address.toLowerCase(), code, at: Date.now() });
        callback(
          Object.assign(new Error(`5.1.1 <${address.address}>: mailbox unavailable`), { responseCode: code }),
        );
      },
      onData: (stream: SMTPServerDataStream, session: SMTPServerSession, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const finish = () => {
            // A connection dropped while it waited (the server went down) delivered nothing.
            if (server !== this.#server) {
              callback(Object.assign(new Error('shutting down'), { responseCode: 421 }));
              return;
            }
            const headers = headersOf(Buffer.concat(chunks).toString('utf8'));
            this.messages.push({
              messageId: headers.get('message-id') ?? '',
              eventId: headers.get('x-paystream-event-id'),
              to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
              acceptedAt: Date.now(),
            });
            callback();
          };
          if (this.#delayMs > 0) void sleep(this.#delayMs).then(finish);
          else finish();
        });
      },
    });
    server.on('error', () => undefined);
    server.server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    return new Promise((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, this.host, () => {
        server.server.off('error', reject);
        this.#server = server;
        const address = server.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  async #close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await closed;
  }
}
