import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Fault injection for crash tests: with PAYSTREAM_FAULT_PAUSE_AT=<point>, the process announces on
 * stderr that it reached the point and waits PAYSTREAM_FAULT_PAUSE_MS there, which gives a test
 * the moment to kill -9 it. Unset (always, in production), a fault point costs one comparison.
 */
const pauseAt = process.env['PAYSTREAM_FAULT_PAUSE_AT'];
const pauseMs = Number(process.env['PAYSTREAM_FAULT_PAUSE_MS'] ?? 60_000);

export const faultPauseMarker = 'PAYSTREAM_FAULT_PAUSED';

export async function faultPoint(name: string, detail: string): Promise<void> {
  if (pauseAt !== name) return;
  process.stderr.write(`${faultPauseMarker} ${name} ${detail}\n`);
  await sleep(pauseMs);
}
