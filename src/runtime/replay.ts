import type { Position } from '../transport/transport.ts';
import type { ConsumerDefinition } from './consumer.ts';
import { ConsumerRunner, type Finished, type RunnerDeps } from './runner.ts';

/** Where a replay starts or ends: a time (epoch ms) or an offset (in every partition). */
export type ReplayBound = { time: number } | { offset: bigint };

export interface ReplayOptions {
  from: ReplayBound;
  /** Unset: up to the end of the log as it is when the replay starts. */
  to?: ReplayBound | undefined;
  /** Run the handlers with external effects suppressed and their transactions rolled back. */
  dryRun?: boolean;
  /** Apply events even when the consumer's inbox has them (effects are repeated: an explicit choice). */
  bypassInbox?: boolean;
  /** The replay's own consumer group; default `<consumer group>.replay.<now>`. */
  group?: string;
  /** Told as events finish: done so far, and the total the replay will read. */
  onProgress?: (done: number, total: number) => void;
  now?: () => number;
}

export interface ReplayReport {
  consumer: string;
  group: string;
  dryRun: boolean;
  bypassInbox: boolean;
  /** Records read from the log between the bounds. */
  read: number;
  /** Handled (in a dry run: would have been). */
  applied: number;
  /** Not applied: already in the inbox. */
  skippedInbox: number;
  /** Not the consumer's types, or past a `to` time. */
  skippedOther: number;
  deadLettered: number;
  /** Dry run: the effects suppressed, by description, with how often. */
  suppressed: Record<string, number>;
  /** The event ids handled (applied, or would have been), in the order they finished. */
  appliedEventIds: string[];
  durationMs: number;
}

/**
 * Replays a consumer over a stretch of the event log, for audits and backfills: a fresh consumer
 * group is moved to `from` (a time or an offset), and the consumer's handler, with all of its
 * middleware, reads from there to `to` (or the end of the log at the start). The inbox keeps a
 * replay from repeating what the consumer already applied, unless `bypassInbox`; a dry run runs
 * the handlers with effects suppressed and rolls their transactions back, reporting what they
 * would have done. The consumer's own group and offsets are untouched, so it may keep running.
 */
export async function replay(
  consumer: ConsumerDefinition,
  deps: RunnerDeps,
  options: ReplayOptions,
): Promise<ReplayReport> {
  const now = options.now ?? Date.now;
  const started = now();
  const group = options.group ?? `${consumer.group ?? `paystream.${consumer.name}`}.replay.${started}`;
  const probe = new ConsumerRunner(consumer, deps, { group });
  const topics = probe.topics;
  const { transport } = deps;

  // Where each partition starts (the seek) and ends (now, or the `to` offset).
  const stopAt = new Map<string, bigint>();
  let total = 0n;
  for (const topic of topics) {
    const from: Position =
      'time' in options.from ? { timestamp: options.from.time } : { offset: options.from.offset };
    await transport.seek(group, topic, from);
    for (const p of await transport.lag(group, topic)) {
      let end = p.end;
      if (options.to && 'offset' in options.to && options.to.offset < end) end = options.to.offset;
      const start = p.committed ?? 0n;
      stopAt.set(`${topic}:${p.partition}`, end);
      if (end > start) total += end - start;
    }
  }

  const report: ReplayReport = {
    consumer: consumer.name,
    group,
    dryRun: options.dryRun ?? false,
    bypassInbox: options.bypassInbox ?? false,
    read: 0,
    applied: 0,
    skippedInbox: 0,
    skippedOther: 0,
    deadLettered: 0,
    suppressed: {},
    appliedEventIds: [],
    durationMs: 0,
  };
  const totalRecords = Number(total);
  const { promise: finished, resolve } = Promise.withResolvers<void>();
  if (totalRecords === 0) resolve();
  const onFinished = (f: Finished) => {
    report.read += 1;
    const o = f.outcome;
    if (o.deadLettered !== undefined) report.deadLettered += 1;
    else if (o.skipped === 'inbox') report.skippedInbox += 1;
    else if (o.skipped !== undefined) report.skippedOther += 1;
    else {
      report.applied += 1;
      if (f.event) report.appliedEventIds.push(f.event.id);
    }
    for (const effect of o.suppressed) report.suppressed[effect] = (report.suppressed[effect] ?? 0) + 1;
    options.onProgress?.(report.read, totalRecords);
    if (report.read >= totalRecords) resolve();
  };
  const runner = new ConsumerRunner(consumer, deps, {
    group,
    startFrom: 'earliest',
    dryRun: options.dryRun ?? false,
    bypassInbox: options.bypassInbox ?? false,
    stopAt,
    ...(options.to && 'time' in options.to ? { until: options.to.time } : {}),
    // A replay leaves the consumer's dead letters to the consumer's own workers.
    redrivePerSecond: 0,
    onFinished,
  });
  options.onProgress?.(0, totalRecords);
  await runner.start();
  try {
    await finished;
  } finally {
    await runner.stop();
  }
  report.durationMs = now() - started;
  return report;
}
