/** The report: targets, and the markdown written beside the JSON. */

import type { Mode, PhaseResult } from './phases-support.ts';
import { benchTables } from './postgres.ts';

export const fmt = (n: number, digits = 1) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';
export const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');

export interface Target {
  mode: Mode;
  name: string;
  measured: string;
  pass: boolean;
}

export function targets(results: PhaseResult[]): Target[] {
  const out: Target[] = [];
  for (const c of [...new Set(results.map((r) => r.concurrency))]) {
    const find = (mode: Mode, phase: 'api' | 'reference') =>
      results.find((r) => r.mode === mode && r.phase === phase && r.concurrency === c);
    const pgApi = find('postgres', 'api');
    const pgRef = find('postgres', 'reference');
    if (pgApi && pgRef) {
      const ratio = pgApi.result.perSecond / pgRef.result.perSecond;
      out.push({
        mode: 'postgres',
        name: `PostgreSQL, ${c} clients: API payments/s >= 50% of the reference`,
        measured: `${fmtInt(pgApi.result.perSecond)} / ${fmtInt(pgRef.result.perSecond)} = ${fmt(ratio * 100)}%`,
        pass: ratio >= 0.5,
      });
      out.push({
        mode: 'postgres',
        name: `PostgreSQL, ${c} clients: API p99 <= 50 ms`,
        measured: `${fmt(pgApi.result.latency.p99Ms)} ms`,
        pass: pgApi.result.latency.p99Ms <= 50,
      });
    }
    const emApi = find('embedded', 'api');
    if (emApi) {
      out.push({
        mode: 'embedded',
        name: `Embedded, ${c} clients: API >= 2,000 payments/s (fsync per commit, group commit allowed)`,
        measured: `${fmt(emApi.result.perSecond)} payments/s`,
        pass: emApi.result.perSecond >= 2000,
      });
    }
  }
  return out;
}

export function markdown(report: {
  date: string;
  command: string;
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
  results: PhaseResult[];
  targets: Target[];
  startedAt: string;
  durationS: number;
}): string {
  const m = report.machine;
  const lines: string[] = [];
  const ref = (mode: Mode, c: number) =>
    report.results.find((r) => r.mode === mode && r.phase === 'reference' && r.concurrency === c);
  lines.push(`# paystream API benchmark, ${report.date}`, '');
  lines.push(
    `Command: \`${report.command}\` (started ${report.startedAt}, took ${fmtInt(report.durationS)} s). ` +
      `Produced by bench/api.ts; how to read it: bench/README.md.`,
    '',
  );
  if (report.settings['whatif'] !== 'none') {
    lines.push(
      `> **What-if run (\`--whatif ${report.settings['whatif']}\`)**: the paystream process was patched in memory ` +
        'by bench/whatif.ts. These are NOT the benchmark figures of the code as it is.',
      '',
    );
  }
  lines.push('## Results', '');
  lines.push(
    `Clients ${report.settings['concurrency']}; each phase ${report.settings['warmupSeconds']} s warm-up + ` +
      `${report.settings['measureSeconds']} s measured. A payment counts when it ends inside the measured window ` +
      `(API: HTTP 200 with \`status: succeeded\`; reference: txn1 + txn2 committed). Latency = one whole payment.`,
    '',
  );
  lines.push(
    '| Mode | Phase | Clients | payments/s | p50 ms | p90 ms | p99 ms | max ms | errors | API / reference |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of report.results) {
    const l = r.result.latency;
    const rf = ref(r.mode, r.concurrency);
    const ratio = r.phase === 'api' && rf ? `${fmt((r.result.perSecond / rf.result.perSecond) * 100)}%` : '';
    lines.push(
      `| ${r.mode} | ${r.phase} | ${r.concurrency} | ${fmtInt(r.result.perSecond)} | ${fmt(l.p50Ms)} | ${fmt(l.p90Ms)} | ${fmt(
        l.p99Ms,
      )} | ${fmt(l.maxMs)} | ${r.result.errorCount} | ${ratio} |`,
    );
  }
  lines.push('');
  lines.push(
    'Payments completed in each second of the measured window (min / median / max over the seconds; a dip ' +
      'shows a stall or noise from elsewhere on the machine):',
    '',
  );
  for (const r of report.results) {
    const per = r.result.timeline.map((t) => t.payments).sort((a, b) => a - b);
    const med = per[Math.floor((per.length - 1) / 2)] ?? 0;
    lines.push(
      `- ${r.mode} ${r.phase} (${r.concurrency}): ${per[0] ?? 0} / ${med} / ${per[per.length - 1] ?? 0}`,
    );
  }
  lines.push('');
  lines.push('## Targets', '');
  lines.push('| Target | Measured | Result |');
  lines.push('|---|---|---|');
  for (const t of report.targets)
    lines.push(`| ${t.name} | ${t.measured} | **${t.pass ? 'PASS' : 'FAIL'}** |`);
  lines.push('');
  lines.push('## Where the CPU went (measured window)', '');
  lines.push(
    'CPU time (user + kernel, from /proc, all threads) of each process during the measured window, divided by ' +
      'the payments completed in it; "cores busy" is the same as a share of one core. "everything else" is the ' +
      "machine's busy time not accounted to those processes (other work on the machine, interrupts). " +
      `The machine has ${m['nproc']} cores.`,
    '',
  );
  lines.push('| Mode | Phase | Process | CPU ms / payment | of which kernel | cores busy | machine busy |');
  lines.push('|---|---|---|---:|---:|---:|---:|');
  for (const r of report.results) {
    const cpu = r.result.cpu;
    if (!cpu) continue;
    const busy = cpu.machineBusy === undefined ? 'n/a' : `${fmt(cpu.machineBusy * 100, 0)}%`;
    for (const [k, v] of Object.entries(cpu.parts)) {
      const kernel = Number.isFinite(v.kernelShare) ? `${fmt(v.kernelShare * 100, 0)}%` : '';
      lines.push(
        `| ${r.mode} | ${r.phase} (${r.concurrency}) | ${k} | ${fmt(v.perPaymentMs, 3)} | ${kernel} | ${fmt(v.cores, 2)} | ${busy} |`,
      );
    }
  }
  lines.push('');
  const instrumented = report.results.filter((r) => r.details['instrument']);
  if (instrumented.length) {
    lines.push('## Stage timings inside paystream (--instrument)', '');
    lines.push(
      'Wall time of each wrapped call during the measured window (bench/instrument.ts). The wrappers add a ' +
        'little overhead: compare these with each other, not with an uninstrumented run.',
      '',
    );
    const sqliteNotes: string[] = [];
    lines.push('| Mode | Stage | calls | mean ms | p50 ms | p99 ms | max ms |');
    lines.push('|---|---|---:|---:|---:|---:|---:|');
    for (const r of instrumented) {
      const inst = r.details['instrument'] as {
        stages?: Record<
          string,
          { calls: number; meanMs: number; p50Ms: number; p99Ms: number; maxMs: number }
        >;
        eventLoopDelayMs?: { mean: number; p50: number; p99: number; max: number };
        sqliteStatements?: Record<string, { calls: number; totalMs: number; maxMs: number }>;
      };
      for (const [stage, st] of Object.entries(inst.stages ?? {})) {
        lines.push(
          `| ${r.mode} | ${stage} | ${st.calls} | ${fmt(st.meanMs, 2)} | ${fmt(st.p50Ms, 2)} | ${fmt(st.p99Ms, 2)} | ${fmt(
            st.maxMs,
            1,
          )} |`,
        );
      }
      const stmts = inst.sqliteStatements ?? {};
      const payments = r.result.perSecond * (r.result.windowMs / 1000);
      for (const [k, st] of Object.entries(stmts)) {
        lines.push(
          `| ${r.mode} | node:sqlite ${k} (synchronous, blocks the event loop) | ${st.calls} | ${fmt(
            st.totalMs / st.calls,
            3,
          )} | | | ${fmt(st.maxMs, 1)} |`,
        );
        sqliteNotes.push(
          `${r.mode}: ${k}: ${fmt(st.totalMs)} ms in the window = ${fmt((st.totalMs / payments) * 1000, 1)} µs per payment, ${fmt(
            st.calls / payments,
            2,
          )} calls per payment`,
        );
      }
      const d = inst.eventLoopDelayMs;
      if (d) {
        lines.push(
          `| ${r.mode} | event-loop delay (monitorEventLoopDelay) | | ${fmt(d.mean, 2)} | ${fmt(d.p50, 2)} | ${fmt(
            d.p99,
            2,
          )} | ${fmt(d.max, 1)} |`,
        );
      }
    }
    lines.push('');
    if (sqliteNotes.length) {
      lines.push('Synchronous SQLite time per payment (measured window):', '');
      for (const n of sqliteNotes) lines.push(`- ${n}`);
      lines.push('');
    }
  }
  lines.push('## Sanity checks', '');
  lines.push(
    '| Mode | Phase | payments | succeeded | processing | events | keys completed | client successes | OK |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---|');
  for (const r of report.results) {
    const s = r.sanity;
    lines.push(
      `| ${r.mode} | ${r.phase} (${r.concurrency}) | ${s.payments} | ${s.succeeded} | ${s.processing} | ${s.outbox} | ${
        s.idempotencyCompleted
      } | ${s.clientSucceeded} | ${s.ok ? 'yes' : '**NO**'} |`,
    );
  }
  lines.push('');
  lines.push(
    'Counts cover the whole phase (warm-up and the requests finishing after the window too). ' +
      '"client successes" are the 200/succeeded answers the load generator saw over the whole phase.',
    '',
  );
  const errs = report.results.filter((r) => Object.keys(r.result.errors).length > 0);
  if (errs.length) {
    lines.push('### Errors', '');
    for (const r of errs) {
      for (const [k, v] of Object.entries(r.result.errors))
        lines.push(`- ${r.mode} ${r.phase} (${r.concurrency}): ${v} × ${k}`);
    }
    lines.push('');
  } else {
    lines.push('No errors in any phase.', '');
  }
  lines.push('## Setup', '');
  for (const r of report.results)
    lines.push(`- **${r.mode} ${r.phase} (${r.concurrency})**: ${r.description}.`);
  lines.push('');
  const vac = report.results.filter((r) => r.mode === 'postgres');
  if (vac.length) {
    lines.push(
      `- PostgreSQL runs with autovacuum=${String(
        (m['postgresSettings'] as Record<string, string> | undefined)?.['autovacuum'],
      )}: the bench ran \`VACUUM (ANALYZE) ${benchTables.join(', ')}\` from a separate connection before ` +
        `each PostgreSQL phase and every ${report.settings['vacuumIntervalSeconds']} s during it.`,
    );
    for (const r of vac) {
      const v = r.vacuum;
      if (v) {
        lines.push(
          `  - ${r.phase}: ${v.runs} VACUUM runs, longest ${fmt(v.maxMs)} ms${
            v.failures.length ? `, ${v.failures.length} failed: ${v.failures[0]}` : ''
          }.`,
        );
      }
    }
    lines.push('- Each PostgreSQL phase used its own freshly created database, dropped afterwards.');
  }
  if (report.results.some((r) => r.mode === 'embedded')) {
    lines.push(
      '- SQLite (embedded): WAL, `synchronous=FULL` (fsync at every COMMIT), SqliteStore group commit; ' +
        'no VACUUM (not applicable). Each phase used a fresh temp directory.',
    );
  }
  lines.push('');
  lines.push('## Machine', '');
  lines.push('| | |', '|---|---|');
  const row = (k: string, v: unknown) => lines.push(`| ${k} | ${v === undefined ? 'n/a' : String(v)} |`);
  row('nproc', m['nproc']);
  row('CPU', m['cpuModel']);
  row('memory', `${m['memoryGiB']} GiB`);
  row('load average at start', (m['loadAverageAtStart'] as number[]).join(', '));
  row('OS', m['platform']);
  row('node', m['node']);
  row('SQLite (node:sqlite)', m['sqliteVersion']);
  row('PostgreSQL', m['postgresVersion']);
  if (m['postgresSettings']) {
    row(
      'PostgreSQL settings',
      Object.entries(m['postgresSettings'] as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(', '),
    );
  }
  row('temp dir (SQLite files)', m['tmpdir']);
  row(
    'git commit',
    `${m['gitCommit']}${m['srcHasUncommittedChanges'] ? ' (src/ has uncommitted changes)' : ''}`,
  );
  lines.push('');
  return lines.join('\n');
}
