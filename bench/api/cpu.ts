/** CPU accounting from /proc: per process (paystream, PostgreSQL, the bench) and for the machine. */

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface Cpu {
  user: number;
  sys: number;
}

/** utime and stime (all threads) of a process in ms, or undefined when it is gone / not Linux. */
export function procCpu(pid: number): Cpu | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    return { user: (Number(fields[11]) * 1000) / clockTicks, sys: (Number(fields[12]) * 1000) / clockTicks };
  } catch {
    return undefined;
  }
}

export function postgresPids(): number[] {
  const pids: number[] = [];
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') pids.push(Number(entry));
      } catch {
        // gone
      }
    }
  } catch {
    // not Linux
  }
  return pids;
}

/**
 * CPU ms of the whole machine (all cores): total, busy (steal included: the cores were not idle
 * for this VM), steal (time the hypervisor ran other guests on them) and iowait (idle, with a disk
 * request outstanding).
 */
export function machineCpu(): MachineCpu | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
    const ms = (t: number) => (t * 1000) / clockTicks;
    return { total: ms(total), busy: ms(total - idle), steal: ms(cpu[7] ?? 0), iowait: ms(cpu[4] ?? 0) };
  } catch {
    return undefined;
  }
}

export interface MachineCpu {
  total: number;
  busy: number;
  steal: number;
  iowait: number;
}

export interface CpuSnapshot {
  at: number;
  parts: Map<string, Cpu>;
  postgres: Map<number, Cpu>;
  machine: MachineCpu | undefined;
}

export function cpuSnapshot(processes: Record<string, number | 'self'>): CpuSnapshot {
  const parts = new Map<string, Cpu>();
  for (const [label, pid] of Object.entries(processes)) {
    if (pid === 'self') {
      const u = process.cpuUsage();
      parts.set(label, { user: u.user / 1000, sys: u.system / 1000 });
    } else {
      const c = procCpu(pid);
      if (c) parts.set(label, c);
    }
  }
  const postgres = new Map<number, Cpu>();
  for (const pid of postgresPids()) {
    const c = procCpu(pid);
    if (c) postgres.set(pid, c);
  }
  return { at: performance.now(), parts, postgres, machine: machineCpu() };
}

export interface CpuPart {
  /** CPU ms (user + kernel) used in the window per completed payment. */
  perPaymentMs: number;
  /** Share of that spent in the kernel (system time). */
  kernelShare: number;
  /** Average number of cores kept busy (1.0 = one core). */
  cores: number;
}

export interface CpuUsage {
  parts: Record<string, CpuPart>;
  /** Whole-machine busy share, 0..1 over all cores (steal included). */
  machineBusy: number | undefined;
  /** Share stolen by the hypervisor for other guests, 0..1: a noisy neighbour, not this run's work. */
  machineSteal: number | undefined;
  /** Share idle while waiting for the disk, 0..1. */
  machineIowait: number | undefined;
}

/** `perSecond`: the payment rate of the measured window (the snapshots' span is within a few ms of it). */
export function cpuUsage(a: CpuSnapshot, b: CpuSnapshot, perSecond: number): CpuUsage {
  const wallMs = b.at - a.at;
  const payments = (perSecond * wallMs) / 1000;
  const used = new Map<string, Cpu>();
  for (const [label, end] of b.parts) {
    const start = a.parts.get(label);
    if (start) used.set(label, { user: end.user - start.user, sys: end.sys - start.sys });
  }
  const pg: Cpu = { user: 0, sys: 0 };
  for (const [pid, end] of b.postgres) {
    const start = a.postgres.get(pid) ?? end;
    pg.user += end.user - start.user;
    pg.sys += end.sys - start.sys;
  }
  // Background PostgreSQL activity (checkpointer...) during a SQLite phase is not worth a row.
  if (pg.user + pg.sys > 0.005 * wallMs) used.set('postgres (all processes)', pg);
  let known = 0;
  for (const c of used.values()) known += c.user + c.sys;
  if (a.machine && b.machine) {
    // Steal is not this machine's work: it is reported apart (machineSteal).
    const rest = b.machine.busy - a.machine.busy - (b.machine.steal - a.machine.steal) - known;
    used.set('everything else on the machine', { user: Math.max(0, rest), sys: 0 });
  }
  const parts: Record<string, CpuPart> = {};
  for (const [label, c] of used) {
    const total = c.user + c.sys;
    parts[label] = {
      perPaymentMs: payments ? total / payments : Number.NaN,
      kernelShare: label.startsWith('everything else') || total === 0 ? Number.NaN : c.sys / total,
      cores: total / wallMs,
    };
  }
  const share = (pick: (m: MachineCpu) => number) =>
    a.machine && b.machine
      ? (pick(b.machine) - pick(a.machine)) / Math.max(1, b.machine.total - a.machine.total)
      : undefined;
  return {
    parts,
    machineBusy: share((m) => m.busy),
    machineSteal: share((m) => m.steal),
    machineIowait: share((m) => m.iowait),
  };
}
