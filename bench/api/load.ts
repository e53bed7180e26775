/**
 * The load generator: C clients driving one operation back to back, timed and counted. Only
 * operations that END inside the measured window count, and latencies are those of the counted
 * operations, so warm-up and the tail never leak into the numbers.
 */

import { performance } from 'node:perf_hooks';
import { type CpuSnapshot, type CpuUsage, cpuSnapshot, cpuUsage } from './cpu.ts';
import { type LatencySummary, summarize } from './stats.ts';

export interface DriveResult {
  /** Successful operations ending in the measured window. */
  ok: number;
  errors: Record<string, number>;
  errorCount: number;
  windowMs: number;
  perSecond: number;
  latency: LatencySummary;
  /** Every successful operation of the phase (warm-up and the tail included), for the sanity check. */
  okTotal: number;
  errorTotal: number;
  cpu: CpuUsage | undefined;
  /** Each second of the measured window: payments completed and the slowest one (ms). */
  timeline: Array<{ payments: number; maxMs: number }>;
}

export type Op = () => Promise<string | null>;

export async function drive(
  op: Op,
  options: {
    concurrency: number;
    warmupMs: number;
    measureMs: number;
    onWindowStart?: () => void;
    onWindowEnd?: () => void;
    /** Processes whose CPU time is measured over the window, by label ('self': this process). */
    cpu?: Record<string, number | 'self'>;
  },
): Promise<DriveResult> {
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let ok = 0;
  let errorCount = 0;
  let okTotal = 0;
  let errorTotal = 0;
  const timeline = Array.from({ length: Math.max(1, Math.ceil(options.measureMs / 1000)) }, () => ({
    payments: 0,
    maxMs: 0,
  }));
  const start = performance.now();
  const windowStart = start + options.warmupMs;
  const windowEnd = windowStart + options.measureMs;
  let before: CpuSnapshot | undefined;
  let after: CpuSnapshot | undefined;
  // CPU snapshots at the window's edges: from a timer, or from the first worker to notice the edge
  // when the event loop is too busy for the timer to fire on time (whichever comes first).
  const markStart = () => {
    if (before) return;
    options.onWindowStart?.();
    before = cpuSnapshot(options.cpu ?? {});
  };
  const markEnd = () => {
    if (after || !before) return;
    after = cpuSnapshot(options.cpu ?? {});
    options.onWindowEnd?.();
  };
  const startTimer = setTimeout(markStart, options.warmupMs);
  const endTimer = setTimeout(markEnd, options.warmupMs + options.measureMs);

  const worker = async () => {
    while (performance.now() < windowEnd) {
      const t0 = performance.now();
      let failure: string | null;
      try {
        failure = await op();
      } catch (error) {
        failure = `exception: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      }
      const t1 = performance.now();
      if (t1 >= windowStart) markStart();
      if (t1 >= windowEnd) markEnd();
      const counted = t1 >= windowStart && t1 <= windowEnd;
      if (failure === null) {
        okTotal += 1;
        if (counted) {
          ok += 1;
          latencies.push(t1 - t0);
          const second = timeline[Math.min(timeline.length - 1, Math.floor((t1 - windowStart) / 1000))]!;
          second.payments += 1;
          second.maxMs = Math.max(second.maxMs, t1 - t0);
        }
      } else {
        errorTotal += 1;
        if (counted) {
          errorCount += 1;
          errors[failure] = (errors[failure] ?? 0) + 1;
        } else {
          errors[`(outside window) ${failure}`] = (errors[`(outside window) ${failure}`] ?? 0) + 1;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  markEnd();
  const windowMs = options.measureMs;
  const perSecond = ok / (windowMs / 1000);
  const cpu = options.cpu && before && after ? cpuUsage(before, after, perSecond) : undefined;
  return {
    ok,
    errors,
    errorCount,
    windowMs,
    perSecond,
    latency: summarize(latencies),
    okTotal,
    errorTotal,
    cpu,
    timeline,
  };
}
