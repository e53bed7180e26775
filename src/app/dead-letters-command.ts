import { parseArgs } from 'node:util';
import { deadLetterStatuses } from '../admin/dead-letter-json.ts';
import { systemClock } from '../platform/clock.ts';
import { type Config, ConfigError } from '../platform/config.ts';
import { IdGenerator } from '../platform/ids.ts';
import { consumerNamePattern } from '../runtime/consumer.ts';
import { type DeadLetter, type DeadLetterFilter, DeadLetters } from '../runtime/dead-letters.ts';
import type { DeadLetterStatus } from '../runtime/tables.ts';
import { openStore } from '../store/open.ts';
import { migrationSets } from './migrations.ts';

export const deadLettersUsage = `usage: paystream dead-letters list [--consumer C] [--status S] [--type T] [--limit N]
       paystream dead-letters show <id>
       paystream dead-letters redrive <id...> | --consumer C | --all
       paystream dead-letters discard <id...> | --consumer C | --all --reason "..."`;

/** Columns padded to their widest cell, two spaces apart: what `keys list` and `lag` print too. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const firstLine = (text: string, max: number) => {
  const line = text.split('\n')[0]!;
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};

function listTable(letters: readonly DeadLetter[]): string {
  return formatTable([
    ['ID', 'CONSUMER', 'EVENT TYPE', 'STATUS', 'REASON', 'ATTEMPTS', 'CREATED', 'ERROR'],
    ...letters.map((d) => [
      d.id,
      d.consumer,
      d.eventType,
      d.status,
      d.reason,
      String(d.attempts),
      iso(d.createdAt),
      firstLine(d.error, 60),
    ]),
  ]);
}

function showText(d: DeadLetter): string {
  let data: string;
  try {
    data = JSON.stringify(JSON.parse(d.value), null, 2);
  } catch {
    data = `(not JSON) ${JSON.stringify(d.value)}`;
  }
  const fields: [string, string][] = [
    ['id', d.id],
    ['consumer', d.consumer],
    ['event', `${d.eventId} (${d.eventType})`],
    ['key', d.partitionKey],
    ['at', `${d.topic} partition ${d.partition} offset ${d.offset}`],
    ['status', d.discardReason === null ? d.status : `${d.status}: ${d.discardReason}`],
    ['reason', `${d.reason} after ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`],
    ['redrives', String(d.redrives)],
    ['created', iso(d.createdAt)],
    ['updated', iso(d.updatedAt)],
  ];
  const headers = Object.entries(d.headers).map(([k, v]) => [`  ${k}`, v]);
  return [
    formatTable(fields),
    '',
    'headers:',
    headers.length ? formatTable(headers) : '  (none)',
    '',
    'data:',
    data,
    '',
    'error:',
    d.error,
  ].join('\n');
}

/**
 * `paystream dead-letters list|show|redrive|discard`: the dead-letter store from the command line,
 * in either mode, beside running processes. A redrive only marks the dead letters: a worker that
 * runs their consumer (`paystream start` or `paystream worker`) hands them to the handler again.
 */
export async function deadLettersCommand(config: Config, args: string[], out: NodeJS.WritableStream) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      consumer: { type: 'string' },
      status: { type: 'string' },
      type: { type: 'string' },
      limit: { type: 'string' },
      all: { type: 'boolean' },
      reason: { type: 'string' },
    },
  });
  const [action, ...ids] = positionals;
  const usage = (why: string) => new ConfigError(`${why}\n${deadLettersUsage}`);
  if (values.consumer !== undefined && !consumerNamePattern.test(values.consumer)) {
    throw usage(`--consumer must be a consumer name (got "${values.consumer}")`);
  }
  const store = openStore(config, migrationSets);
  try {
    await store.migrate();
    const letters = new DeadLetters(store, new IdGenerator(systemClock), systemClock);
    switch (action) {
      case 'list': {
        if (values.status !== undefined && !deadLetterStatuses.includes(values.status as DeadLetterStatus)) {
          throw usage(`--status must be one of ${deadLetterStatuses.join(', ')}`);
        }
        const limit = values.limit === undefined ? 50 : Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw usage('--limit must be 1 to 1000');
        const rows = await letters.list(
          { consumer: values.consumer, status: values.status as DeadLetterStatus, eventType: values.type },
          { limit },
        );
        out.write(rows.length ? `${listTable(rows)}\n` : 'no dead letters\n');
        return;
      }
      case 'show': {
        if (ids.length !== 1) throw usage('show takes one id');
        const letter = await letters.get(ids[0]!);
        if (!letter) throw new ConfigError(`no dead letter ${ids[0]}`);
        out.write(`${showText(letter)}\n`);
        return;
      }
      case 'redrive':
      case 'discard': {
        const given = [ids.length > 0, values.consumer !== undefined, values.all === true].filter(Boolean);
        if (given.length !== 1) throw usage(`${action} takes ids, or --consumer C, or --all (one of them)`);
        const filter: DeadLetterFilter =
          ids.length > 0 ? { ids } : values.consumer !== undefined ? { consumer: values.consumer } : {};
        if (action === 'redrive') {
          const n = await letters.requestRedrive(filter);
          out.write(
            `marked ${n} dead letter${n === 1 ? '' : 's'} for a redrive: a worker running the consumer handles them again (10/s by default)\n`,
          );
        } else {
          const reason = values.reason?.trim();
          if (!reason) throw usage('discard needs --reason "..." (kept with each dead letter)');
          const n = await letters.discard(filter, reason);
          out.write(`discarded ${n} dead letter${n === 1 ? '' : 's'}\n`);
        }
        return;
      }
      default:
        throw usage(action === undefined ? 'which action?' : `unknown action ${action}`);
    }
  } finally {
    await store.close();
  }
}
