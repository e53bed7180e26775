import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const hasProc = existsSync('/proc/self/cmdline');
const pollIntervalMs = 50;

function commandLine(pid: number): string | undefined {
  if (hasProc) {
    try {
      // NUL-separated arguments; empty for a zombie, which is as good as gone.
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      return '';
    }
  }
  const ps = spawnSync('ps', ['-p', String(pid), '-o', 'command='], { encoding: 'utf8' });
  return ps.error ? undefined : ps.stdout;
}

/**
 * Whether `pid` is still the JVM started with `marker` (its node.properties) on its command line.
 * The PID comes from a state file that may be days old: by now the number can belong to another
 * process, which `stop` must not signal.
 */
export function isRunning(pid: number | undefined, marker: string): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone. EPERM: alive but another user's, so not a JVM this user started.
    return false;
  }
  const command = commandLine(pid);
  // No /proc and no ps: the PID is all there is to go on.
  return command === undefined || command.includes(marker);
}

/** Sends `signal` if the process is still the one meant; a process already gone is not an error. */
export function signal(pid: number | undefined, marker: string, name: NodeJS.Signals): void {
  if (pid === undefined || !isRunning(pid, marker)) return;
  try {
    process.kill(pid, name);
  } catch {
    // It exited between the check and the signal.
  }
}

/** Resolves true once none of the processes runs, or false when `timeoutMs` passed first. */
export async function waitForExit(
  processes: Array<{ pid: number | undefined; marker: string }>,
  timeoutMs: number,
): Promise<boolean> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    if (!processes.some((p) => isRunning(p.pid, p.marker))) return true;
    if (Date.now() >= giveUpAt) return false;
    await sleep(pollIntervalMs);
  }
}
