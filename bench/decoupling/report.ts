/** The decoupling report in markdown. */

import { fmt, fmtInt } from '../api/report.ts';
import { phaseTitles, type SystemResult, type Target } from './results.ts';

export function markdown(r: {
  date: string;
  command: string;
  durationS: number;
  settings: {
    clients: number;
    rate: number;
    windowMs: number;
    warmupMs: number;
    slowMs: number;
    failShare: number;
    drainTimeoutMs: number;
    rounds: number;
    quietBusy: number;
    quietWaitMs: number;
  };
  machine: Record<string, unknown>;
  loadAverageAtEnd: number[];
  targets: Target[];
  results: SystemResult[];
  chartFile: string;
}): string {
  const s = r.settings;
  const m = r.machine;
  const lines: string[] = [
    `# Decoupling benchmark: paystream vs a synchronous baseline, ${r.date}`,
    '',
    `Command: \`${r.command}\` (\`npm run bench:decoupling\`, took ${fmtInt(r.durationS)} s). ` +
      'Produced by bench/decoupling.ts; how it works and how to read it: bench/README.md.',
    '',
    `**Load** (the same for every system): a closed loop of ${s.clients} clients, each paced to one payment every ` +
      `${fmt((s.clients / s.rate) * 1000, 0)} ms, so at most ${fmt(s.rate, 0)} payments/s are offered: well under ` +
      "either system's capacity on this machine; a client whose answer comes late sends its next payment at once " +
      '(it never has two in flight). Each payment is `pm_card_visa` with a `receipt_email` of its own (so the SMTP ' +
      `server can tell phases and payments apart). Each phase lasts ${fmt(s.windowMs / 1000, 0)} s; every request ` +
      'started in it counts, with its whole latency. ' +
      `${fmt(s.warmupMs / 1000, 0)} s of warm-up with SMTP healthy come first (not counted).`,
    '',
    '**SMTP phases** (the bench runs its own SMTP server, bench/decoupling/smtp-server.ts, in a process of its own): ' +
      `healthy; slow: every message answered ${fmt(s.slowMs / 1000, 0)} s after its data; failing: ` +
      `${fmt(s.failShare * 100, 0)}% of messages refused after DATA (alternately 451 and 554, from a seeded generator); ` +
      'down: the server stops listening and cuts its open connections (connection refused). After each phase the ' +
      `server is healthy again and the bench waits (up to ${fmt(s.drainTimeoutMs / 1000, 0)} s) until every receipt of ` +
      "the phase's payments has arrived: receipts are counted as delivered during the phase, and after recovery. " +
      `The four phases run in this order, ${s.rounds === 1 ? 'once' : `${s.rounds} times over (rounds); targets and the chart use the median of the rounds' figures`}, ` +
      'for one system after the other, each system on a fresh store. The machine is shared: before each phase ' +
      `the bench waits until the whole machine has been under ${fmt(s.quietBusy * 100, 0)}% busy for 2 s (at most ` +
      `${fmt(s.quietWaitMs / 1000, 0)} s; the per-second timeline below says how long it waited).`,
    '',
    `![p99 and payments/s per phase and system](${r.chartFile})`,
    '',
    '## Targets',
    '',
    '| Target | Measured | Result |',
    '| --- | --- | --- |',
    ...r.targets.map((t) => `| ${t.name} | ${t.measured} | **${t.pass ? 'PASS' : 'FAIL'}** |`),
    '',
    "The baseline ratio is the baseline's p99 of successful payments with SMTP 2 s slow, divided by paystream's " +
      'p99 of successful payments with SMTP healthy, both from this run under the same load.',
    '',
    '## Results',
    '',
    '| System | Phase | Round | payments/s | p50 ms | p90 ms | p99 ms | max ms | errors | p99 of all answers ms | server CPU cores | harness CPU cores | machine busy | charged | receipts during phase | after recovery | of which redriven | drain s |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const sys of r.results) {
    for (const p of sys.phases) {
      const l = p.load.latency;
      const missing = p.charged - p.receipts.distinctRecipients;
      lines.push(
        `| ${sys.system} | ${phaseTitles[p.phase]} | ${p.round} | ${fmt(p.load.perSecond)} | ${fmt(l.p50Ms)} | ${fmt(l.p90Ms)} | ` +
          `${fmt(l.p99Ms)} | ${fmt(l.maxMs)} | ${p.load.errorCount} | ${fmt(p.load.latencyAll.p99Ms)} | ` +
          `${fmt(
            Object.values(p.cpu.cores).reduce((a, b) => a + b, 0),
            2,
          )} | ${p.charged} | ` +
          `${p.receipts.deliveredDuringPhase} | ${p.receipts.deliveredAfterRecovery}${missing > 0 ? ` (${missing} never)` : ''} | ` +
          `${p.receipts.redriven} | ` +
          `${sys.system === 'baseline' ? 'n/a' : `${fmt(p.receipts.drainMs / 1000)}${p.receipts.drainComplete ? '' : ' (gave up)'}`} |`,
      );
    }
  }
  lines.push(
    '',
    '- **payments/s**: payments that succeeded (paystream: HTTP 200 `succeeded`; baseline: HTTP 200, i.e. charged ' +
      'AND receipt sent) among the requests started in the phase, per second of the phase. p50..max: their latency.',
    '- **errors**: requests that did not succeed; **p99 of all answers** includes them (a failing system can answer fast).',
    "- **server CPU cores**: CPU time (user + kernel, all threads, from /proc) of the system's server process " +
      '(`paystream start`, or the baseline server) during the phase, in cores (this machine has 2). **harness**: the same for the bench process (the load generator) and its SMTP server. ' +
      '**machine busy**: ' +
      "the whole machine's busy share over the phase (both cores, everything on it: the bench, its SMTP server, " +
      "Kafka, PostgreSQL and other engineers' work). A phase run while the machine was near 100% busy measures " +
      'the neighbours as much as the system: compare phases of similar busy share.',
    '- **charged**: payments charged in the phase (for the baseline, its 502s too: charged, but the client was told it failed).',
    "- **receipts**: distinct Message-IDs the SMTP server accepted for the phase's payments, before the phase ended " +
      'and after the SMTP server recovered ("never": charged payments whose receipt never arrived).',
    '',
  );
  const errs = r.results.flatMap((sys) =>
    sys.phases.flatMap((p) =>
      Object.entries(p.load.errors).map(
        ([k, v]) => `- ${sys.system}, ${phaseTitles[p.phase]} (round ${p.round}): ${v} × ${k}`,
      ),
    ),
  );
  lines.push('### Errors', '', ...(errs.length ? errs : ['None.']), '');
  lines.push('### Receipts in all (warm-up included)', '');
  lines.push(
    '| System | succeeded payments (its database) | client successes | distinct Message-IDs | messages accepted | receipts recorded sent | dead letters |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const sys of r.results) {
    const f = sys.final;
    lines.push(
      `| ${sys.system} | ${f.succeeded} | ${f.clientSucceeded} | ${f.distinctMessageIds} | ${f.accepted} | ${f.receiptsRecorded} | ${f.deadLetters}${
        Object.keys(f.deadLetterReasons).length ? ` (${JSON.stringify(f.deadLetterReasons)})` : ''
      } |`,
    );
  }
  lines.push(
    '',
    '"messages accepted" counts every 250 the SMTP server gave, so a message sent twice (a retry after the server ' +
      "accepted it but the answer was lost) shows as accepted > distinct. paystream's Message-ID is " +
      '`<event id@receipts.paystream>`; the bench checks it matches the `X-Paystream-Event-Id` header.',
    '',
  );
  const mismatches = r.results.flatMap((sys) => sys.phases).reduce((a, p) => a + p.receipts.idMismatches, 0);
  if (mismatches)
    lines.push(`**${mismatches} messages had a Message-ID that does not match their event id.**`, '');
  lines.push('## Per-second timeline', '');
  lines.push(
    'Succeeded payments started in each second of the phase (min / median / max over the seconds), and the slowest answer:',
    '',
  );
  for (const sys of r.results) {
    for (const p of sys.phases) {
      const per = p.load.timeline.map((t) => t.ok).sort((a, b) => a - b);
      const slowest = Math.max(...p.load.timeline.map((t) => t.maxMs));
      lines.push(
        `- ${sys.system}, ${phaseTitles[p.phase]} (round ${p.round}): ${per[0] ?? 0} / ${per[Math.floor((per.length - 1) / 2)] ?? 0} / ` +
          `${per[per.length - 1] ?? 0} per second; slowest ${fmt(slowest)} ms; load average at its start ${fmt(p.loadAverage, 2)}; ` +
          `waited ${fmt(p.quiet.waitedMs / 1000, 0)} s for the machine to be quiet (${fmt(p.quiet.busy * 100, 0)}% busy when it started)`,
      );
    }
  }
  lines.push('', '## Systems', '');
  for (const sys of r.results) lines.push(`- **${sys.system}**: ${sys.description}.`);
  lines.push(
    '',
    'paystream runs with `PAYSTREAM_LOG_LEVEL=warn` and its defaults otherwise: the receipts consumer handles 16 events ' +
      'at once, 5 attempts with jittered backoff then the dead letters, a circuit breaker on `smtp` (5 consecutive ' +
      'failures open it; the consumer pauses; probes from 1 s, doubling to 10 s), a pool of 8 SMTP connections. ' +
      'PostgreSQL (paystream-kafka) is VACUUM (ANALYZE)d by the bench every 5 s (autovacuum is off on this machine).',
    '',
  );
  const outputs = r.results.filter((sys) => sys.outputLines > 0);
  if (outputs.length) {
    lines.push('### What the processes logged (warn and above; first lines)', '');
    for (const sys of outputs) {
      lines.push(`- ${sys.system}: ${sys.outputLines} lines, e.g.:`, '');
      lines.push('```', ...sys.output.slice(0, 5).map((l) => l.slice(0, 300)), '```', '');
    }
  }
  lines.push('## Machine', '');
  lines.push(
    `${m['nproc']} cores (${m['cpuModel']}), ${m['memoryGiB']} GiB, ${m['platform']}, Node ${m['node']}, ` +
      `git ${m['gitCommit']}${m['srcHasUncommittedChanges'] ? ' (src/ has uncommitted changes: other engineers work in this tree)' : ''}. ` +
      `Load average at start ${(m['loadAverageAtStart'] as number[]).join(', ')}, at the end ` +
      `${r.loadAverageAtEnd.map((l) => fmt(l, 2)).join(', ')}. The machine is shared and noisy (other engineers ` +
      'run tests on it): the load generator, the SMTP server and the systems all share its cores. Compare ratios ' +
      'within a run, not absolute figures across runs.',
    '',
  );
  return lines.join('\n');
}
