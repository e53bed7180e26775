import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import { systemClock } from '../platform/clock.ts';
import { type Config, ConfigError } from '../platform/config.ts';
import { IdGenerator } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import { Breakers } from '../runtime/breakers.ts';
import { DeadLetters } from '../runtime/dead-letters.ts';
import { type ReplayBound, type ReplayReport, replay } from '../runtime/replay.ts';
import { Closers } from './closers.ts';
import { openStoreWithEventLog } from './event-log.ts';
import { consumerNames, services } from './services.ts';

export const replayUsage =
  'usage: paystream replay <consumer> --from <ISO time|offset> [--to <ISO time|offset>] [--dry-run] [--bypass-inbox]';

/** `--from 2026-11-25T10:00:00Z` (a time) or `--from 1200` (an offset, in every partition). */
export function parseBound(option: string, raw: string): ReplayBound {
  if (/^[0-9]+$/.test(raw)) return { offset: BigInt(raw) };
  const time = Date.parse(raw);
  if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || !Number.isFinite(time)) {
    throw new ConfigError(
      `${option} must be an ISO 8601 time (2026-11-25T10:00:00Z) or an offset (got "${raw}")`,
    );
  }
  return { time };
}

/**
 * `paystream replay`: runs one consumer's handler again over a stretch of the event log (see
 * runtime/replay.ts), with a progress bar and ETA on a terminal, and prints what it did (or, with
 * --dry-run, what it would have done).
 */
export async function replayCommand(
  config: Config,
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WriteStream | NodeJS.WritableStream = process.stderr,
): Promise<ReplayReport> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'bypass-inbox': { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  const [name, ...extra] = positionals;
  if (!name || extra.length > 0 || values.from === undefined) throw new ConfigError(replayUsage);
  const service = services.find((s) => s.consumerNames.includes(name));
  if (!service) throw new ConfigError(`unknown consumer ${name} (known: ${consumerNames().join(', ')})`);
  const from = parseBound('--from', values.from);
  const to = values.to === undefined ? undefined : parseBound('--to', values.to);

  const lines: string[] = [];
  const log: Logger = {
    info: () => undefined,
    debug: () => undefined,
    warn: (o, m) => lines.push(`warn: ${m ?? ''} ${JSON.stringify(o)}`),
    error: (o, m) => err.write(`error: ${m ?? ''} ${String((o as { err?: unknown }).err ?? '')}\n`),
  };
  const closers = new Closers((e) => err.write(`closing failed: ${String(e)}\n`));
  try {
    const { store, transport } = await openStoreWithEventLog(config, closers, 'replay');
    const clock = systemClock;
    const ids = new IdGenerator(clock);
    const running = await service.start({
      env: process.env,
      mode: config.mode,
      dataDir: config.dataDir,
      store,
      clock,
      ids,
      log,
    });
    closers.add(() => running.close());
    const consumer = running.consumers.find((c) => c.name === name)!;

    const tty = 'isTTY' in err && err.isTTY === true;
    const bar = tty
      ? new SingleBar({
          format: `replay ${name} [{bar}] {value}/{total} events | {percentage}% | ETA {eta_formatted}`,
          stream: err as NodeJS.WriteStream,
          hideCursor: true,
        })
      : undefined;
    let lastLine = 0;
    const report = await replay(
      consumer,
      {
        transport,
        store,
        clock,
        ids,
        log,
        breakers: new Breakers(),
        deadLetters: new DeadLetters(store, ids, clock),
      },
      {
        from,
        to,
        dryRun: values['dry-run'] ?? false,
        bypassInbox: values['bypass-inbox'] ?? false,
        onProgress(done, total) {
          if (bar) {
            if (done === 0) bar.start(total, 0);
            else bar.update(done);
          } else if (done === total || Date.now() - lastLine > 5000) {
            lastLine = Date.now();
            err.write(`replay ${name}: ${done}/${total} events\n`);
          }
        },
      },
    );
    bar?.stop();
    if (values.json) {
      out.write(`${JSON.stringify({ ...report, appliedEventIds: undefined }, null, 2)}\n`);
    } else {
      out.write(formatReport(report));
    }
    return report;
  } finally {
    await closers.close();
  }
}

export function formatReport(r: ReplayReport): string {
  const verb = r.dryRun ? 'would apply' : 'applied';
  const rows = [
    `replay of ${r.consumer} (group ${r.group})${r.dryRun ? ', DRY RUN: no effect was made, nothing was written' : ''}${r.bypassInbox ? ', inbox bypassed' : ''}`,
    `  events read          ${r.read}`,
    `  ${verb.padEnd(20)} ${r.applied}`,
    `  already applied      ${r.skippedInbox}${r.bypassInbox ? '' : ' (skipped: in the inbox; --bypass-inbox repeats them)'}`,
    `  not for it / past to ${r.skippedOther}`,
    `  dead-lettered        ${r.deadLettered}`,
    `  took                 ${(r.durationMs / 1000).toFixed(1)} s`,
  ];
  const effects = Object.entries(r.suppressed);
  if (effects.length > 0) {
    const count = effects.reduce((n, [, c]) => n + c, 0);
    rows.push(`  effects suppressed   ${count}:`);
    for (const [effect, n] of effects.slice(0, 20)) rows.push(`    ${n > 1 ? `${n} x ` : ''}${effect}`);
    if (effects.length > 20) rows.push(`    ... and ${effects.length - 20} more`);
  }
  return `${rows.join('\n')}\n`;
}
