/**
 * The decoupling bench's load: a closed loop of C clients, each paced to one payment every
 * C / rate seconds. A client sends its next payment at its next slot, or at once when the last
 * answer came after that slot (it never sends two at once and never catches up in a burst). While
 * answers are fast, the offered load is `rate` payments/s, well under capacity; when a system makes
 * its clients wait (the synchronous baseline with a slow SMTP server), its throughput falls to
 * C / latency, as it would for real users who wait for their answer.
 *
 * Every request STARTED in the window counts, with its whole latency (the last ones may end after
 * the window: no slow answer is left out of the percentiles).
 */

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LatencySummary, summarize } from '../api/stats.ts';

/** One request: null when it succeeded, else the error's kind. */
export type Request = (seq: number) => Promise<string | null>;

export interface PhaseLoad {
  /** Requests started in the window. */
  sent: number;
  ok: number;
  errors: Record<string, number>;
  errorCount: number;
  windowMs: number;
  /** Successful payments started in the window, per second of the window. */
  perSecond: number;
  /** Latency of the successful requests. */
  latency: LatencySummary;
  /** Latency of every answered request, errors included (a failing system can answer fast). */
  latencyAll: LatencySummary;
  /** Payments started in each second of the window that succeeded, and the slowest answer (ms). */
  timeline: Array<{ ok: number; errors: number; maxMs: number }>;
}

export async function pacedLoad(
  request: Request,
  options: { clients: number; rate: number; windowMs: number; firstSeq: number },
): Promise<PhaseLoad> {
  const { clients, rate, windowMs } = options;
  const intervalMs = (clients / rate) * 1000;
  const latencies: number[] = [];
  const latenciesAll: number[] = [];
  const errors: Record<string, number> = {};
  const timeline = Array.from({ length: Math.max(1, Math.ceil(windowMs / 1000)) }, () => ({
    ok: 0,
    errors: 0,
    maxMs: 0,
  }));
  let sent = 0;
  let ok = 0;
  let errorCount = 0;
  let seq = options.firstSeq;
  const start = performance.now();
  const end = start + windowMs;
  const client = async (index: number) => {
    // Clients start spread over one interval, so the load is smooth from the first second.
    let next = start + (index * intervalMs) / clients;
    for (;;) {
      const now = performance.now();
      if (next > now) await sleep(next - now);
      const t0 = performance.now();
      if (t0 >= end) return;
      sent += 1;
      let failure: string | null;
      try {
        failure = await request(seq++);
      } catch (error) {
        failure = `exception: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      }
      const ms = performance.now() - t0;
      latenciesAll.push(ms);
      const second = timeline[Math.min(timeline.length - 1, Math.floor((t0 - start) / 1000))]!;
      second.maxMs = Math.max(second.maxMs, ms);
      if (failure === null) {
        ok += 1;
        second.ok += 1;
        latencies.push(ms);
      } else {
        errorCount += 1;
        second.errors += 1;
        errors[failure] = (errors[failure] ?? 0) + 1;
      }
      next = Math.max(next + intervalMs, performance.now());
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  return {
    sent,
    ok,
    errors,
    errorCount,
    windowMs,
    perSecond: ok / (windowMs / 1000),
    latency: summarize(latencies),
    latencyAll: summarize(latenciesAll),
    timeline,
  };
}
