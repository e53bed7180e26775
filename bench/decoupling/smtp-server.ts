/**
 * The bench's controllable SMTP server, run as a child process (forked with an IPC channel by
 * smtp-control.ts) so its work never shares the load generator's event loop. It accepts mail on
 * 127.0.0.1 and records, for every message it ACCEPTS (answers 250 to), the Message-ID, the
 * X-Paystream-Event-Id header, the recipient and the time. The parent switches its behaviour:
 *
 * - healthy: accept every message at once;
 * - slow:    answer every message `slowMs` after its data ends (the provider is 2 s slow);
 * - failing: refuse `failShare` of the messages after DATA, alternately 451 (try again later) and
 *            554 (transaction failed), drawn from a seeded generator so runs are comparable;
 * - down:    stop listening and cut every open connection: connections are refused.
 *
 * Messages from the parent: { cmd: 'mode', mode, slowMs?, failShare? } -> { kind: 'mode', port };
 * { cmd: 'take' } -> { kind: 'accepted', messages, counters } (the messages accepted since the last take).
 */
import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export type SmtpMode = 'healthy' | 'slow' | 'failing' | 'down';

export interface AcceptedMessage {
  messageId: string | null;
  eventId: string | null;
  to: string;
  /** Epoch ms at which the server answered 250. */
  at: number;
}

export interface SmtpCounters {
  /** Messages whose data arrived (whatever the answer). */
  received: number;
  accepted: number;
  refused451: number;
  refused554: number;
  /** Connections cut when the server went down. */
  connectionsCut: number;
}

export type ToChild = { cmd: 'mode'; mode: SmtpMode; slowMs?: number; failShare?: number } | { cmd: 'take' };
export type FromChild =
  | { kind: 'mode'; mode: SmtpMode; port: number }
  | { kind: 'accepted'; messages: AcceptedMessage[]; counters: SmtpCounters };

const host = '127.0.0.1';
/** Largest header block read for the Message-ID: the rest of the message is read and dropped. */
const headerBytesMax = 64 * 1024;

/** A small seeded generator (mulberry32): the same failures in every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The value of one header in a raw header block (folded lines unfolded), or null. */
function header(block: string, name: string): string | null {
  const unfolded = block.replace(/\r?\n[ \t]+/g, ' ');
  const wanted = name.toLowerCase();
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === wanted)
      return line.slice(colon + 1).trim();
  }
  return null;
}

let mode: SmtpMode = 'healthy';
let slowMs = 2000;
let failShare = 0.3;
let refusals = 0;
const random = seeded(20261125);
let accepted: AcceptedMessage[] = [];
const counters: SmtpCounters = { received: 0, accepted: 0, refused451: 0, refused554: 0, connectionsCut: 0 };
let port = 0;
let server: SMTPServer | undefined;
const sockets = new Set<Socket>();

function onData(
  stream: SMTPServerDataStream,
  session: SMTPServerSession,
  callback: (error?: Error | null) => void,
): void {
  let head = '';
  let headDone = false;
  stream.on('data', (chunk: Buffer) => {
    if (headDone) return;
    head += chunk.toString('latin1');
    const end = head.indexOf('\r\n\r\n');
    if (end >= 0) {
      head = head.slice(0, end);
      headDone = true;
    } else if (head.length > headerBytesMax) headDone = true;
  });
  stream.on('end', () => {
    counters.received += 1;
    const record = (): void => {
      counters.accepted += 1;
      accepted.push({
        messageId: header(head, 'message-id'),
        eventId: header(head, 'x-paystream-event-id'),
        to: session.envelope.rcptTo.map((r) => r.address).join(','),
        at: Date.now(),
      });
      callback();
    };
    if (mode === 'slow') {
      setTimeout(record, slowMs);
    } else if (mode === 'failing' && random() < failShare) {
      refusals += 1;
      if (refusals % 2 === 1) {
        counters.refused451 += 1;
        callback(Object.assign(new Error('4.3.0 temporary failure, try again later'), { responseCode: 451 }));
      } else {
        counters.refused554 += 1;
        callback(Object.assign(new Error('5.3.0 transaction failed'), { responseCode: 554 }));
      }
    } else {
      record();
    }
  });
}

async function up(): Promise<void> {
  if (server) return;
  const s = new SMTPServer({
    name: 'bench-smtp',
    banner: 'paystream bench SMTP server',
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onData,
  });
  s.on('error', () => undefined);
  s.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    s.server.once('error', reject);
    s.listen(port, host, () => {
      s.server.off('error', reject);
      resolve();
    });
  });
  const address = s.server.address();
  if (typeof address === 'object' && address) port = address.port;
  server = s;
}

async function down(): Promise<void> {
  const s = server;
  if (!s) return;
  server = undefined;
  const closed = new Promise<void>((resolve) => s.server.close(() => resolve()));
  for (const socket of sockets) {
    counters.connectionsCut += 1;
    socket.destroy();
  }
  sockets.clear();
  await closed;
}

process.on('message', (message: ToChild) => {
  void (async () => {
    if (message.cmd === 'take') {
      const messages = accepted;
      accepted = [];
      process.send!({ kind: 'accepted', messages, counters: { ...counters } } satisfies FromChild);
      return;
    }
    if (message.slowMs !== undefined) slowMs = message.slowMs;
    if (message.failShare !== undefined) failShare = message.failShare;
    mode = message.mode;
    if (mode === 'down') await down();
    else await up();
    process.send!({ kind: 'mode', mode, port } satisfies FromChild);
  })();
});
process.on('disconnect', () => process.exit(0));

await up();
process.send!({ kind: 'mode', mode, port } satisfies FromChild);
