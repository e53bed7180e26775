/**
 * The seed's before/after, measured (`npm run bench:decoupling`): the same paced payment load against
 * paystream and against a synchronous baseline that sends the receipt email inside the request,
 * while the bench's own SMTP server is healthy, then 2 s slow, then failing 30% of sends, then down.
 * Writes bench/results/decoupling-<date>.md, .json and .png (p99 and payments/s per phase and system).
 *
 *   node bench/decoupling.ts [--systems paystream-embedded,paystream-kafka,baseline] [--clients 16] [--rate 160]
 *                            [--seconds 20] [--warmup 5] [--slow-ms 2000] [--fail-share 0.3] [--drain-timeout 180]
 *                            [--pg-url postgres://postgres@127.0.0.1:5432/postgres] [--out bench/results]
 *
 * paystream-kafka needs PostgreSQL at --pg-url and Java 17+ with Kafka's jars (`paystream kafka fetch`).
 * See bench/README.md for what each phase does and how to read the report.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { machineCpu, procCpu } from './api/cpu.ts';
import { runId } from './api/run-id.ts';
import { renderChart } from './decoupling/chart.ts';
import { pacedLoad } from './decoupling/load.ts';
import { machineInfo } from './decoupling/machine.ts';
import { markdown } from './decoupling/report.ts';
import {
  type PhaseName,
  type PhaseResult,
  phaseNames,
  type SystemResult,
  targetsOf,
} from './decoupling/results.ts';
import { SmtpControl } from './decoupling/smtp-control.ts';
import {
  type RunningSystem,
  type SystemName,
  startBaseline,
  startPaystreamEmbedded,
  startPaystreamKafka,
} from './decoupling/systems.ts';

const { values: opts } = parseArgs({
  options: {
    systems: { type: 'string', default: 'paystream-embedded,paystream-kafka,baseline' },
    clients: { type: 'string', default: '16' },
    rate: { type: 'string', default: '160' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    'slow-ms': { type: 'string', default: '2000' },
    'fail-share': { type: 'string', default: '0.3' },
    'drain-timeout': { type: 'string', default: '180' },
    rounds: { type: 'string', default: '1' },
    'quiet-busy': { type: 'string', default: '0.5' },
    'quiet-wait': { type: 'string', default: '60' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    out: { type: 'string', default: path.join(import.meta.dirname, 'results') },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(`${readFileSync(import.meta.filename, 'utf8').split('*/')[0]}*/\n`);
  process.exit(0);
}
function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got "${raw}")`);
  return n;
}
const systems = opts.systems.split(',').map((s) => s.trim()) as SystemName[];
for (const s of systems) {
  if (!['paystream-embedded', 'paystream-kafka', 'baseline'].includes(s))
    throw new Error(`unknown system ${s}`);
}
const clients = Math.floor(positive('clients', opts.clients));
const rate = positive('rate', opts.rate);
const windowMs = positive('seconds', opts.seconds) * 1000;
const warmupMs = Number(opts.warmup) * 1000;
const slowMs = positive('slow-ms', opts['slow-ms']);
const failShare = positive('fail-share', opts['fail-share']);
const drainTimeoutMs = positive('drain-timeout', opts['drain-timeout']) * 1000;
const rounds = Math.floor(positive('rounds', opts.rounds));
const quietBusy = positive('quiet-busy', opts['quiet-busy']);
const quietWaitMs = Number(opts['quiet-wait']) * 1000;
const pgAdminUrl = opts['pg-url'];

function log(line: string): void {
  process.stderr.write(`[decoupling ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** Receipts of one phase go to addresses of their own domain: the SMTP server's log tells phases apart. */
const domainOf = (system: SystemName, phase: string) => `${phase}.${system}.bench.example`;

/** Distinct Message-IDs and recipients the SMTP server accepted for a domain, up to a time. */
function delivered(smtp: SmtpControl, domain: string, until = Number.POSITIVE_INFINITY) {
  const ids = new Set<string>();
  const recipients = new Set<string>();
  let accepted = 0;
  let idMismatches = 0;
  for (const m of smtp.accepted) {
    if (m.at > until || !m.to.endsWith(`@${domain}`)) continue;
    accepted += 1;
    ids.add(m.messageId ?? `(none) ${m.to}`);
    recipients.add(m.to);
    // paystream's Message-ID is derived from the event id: check the pair agrees.
    if (m.eventId !== null && m.messageId !== `<${m.eventId}@receipts.paystream>`) idMismatches += 1;
  }
  return { distinctMessageIds: ids.size, distinctRecipients: recipients.size, accepted, idMismatches };
}

async function setSmtp(smtp: SmtpControl, phase: PhaseName): Promise<void> {
  if (phase === 'healthy') await smtp.setMode('healthy');
  else if (phase === 'slow') await smtp.setMode('slow', { slowMs });
  else if (phase === 'failing') await smtp.setMode('failing', { failShare });
  else await smtp.setMode('down');
}

/**
 * After a phase the SMTP server is healthy again: wait until every receipt of the phase's payments
 * arrived (paystream retries, its breaker closes, its consumer resumes). Receipts paystream gave up
 * on (dead letters) never come by themselves: once every payment is either delivered or
 * dead-lettered, the bench does what an operator would, `paystream dead-letters redrive --consumer
 * receipts`, and waits for those too. Gives up after the drain timeout.
 */
async function drain(
  smtp: SmtpControl,
  system: RunningSystem,
  domain: string,
  expected: number,
  deadLettersBefore: number,
): Promise<{
  ms: number;
  complete: boolean;
  deliveredByItself: number;
  redriven: number;
  redriveMs: number;
}> {
  const t0 = Date.now();
  if (system.name === 'baseline') {
    // Nothing retries in the baseline: what was not sent inside its request never will be.
    await sleep(1000);
    await smtp.collect();
    const n = delivered(smtp, domain).distinctRecipients;
    return { ms: Date.now() - t0, complete: true, deliveredByItself: n, redriven: 0, redriveMs: 0 };
  }
  let deliveredByItself: number | undefined;
  let redriven = 0;
  let redriveAt = 0;
  let lastCountAt = 0;
  for (;;) {
    await smtp.collect();
    const n = delivered(smtp, domain).distinctRecipients;
    if (n >= expected) {
      // A little longer, to see a duplicate if one was coming.
      await sleep(2000);
      await smtp.collect();
      return {
        ms: Date.now() - t0,
        complete: true,
        deliveredByItself: deliveredByItself ?? delivered(smtp, domain).distinctRecipients,
        redriven,
        redriveMs: redriven ? Date.now() - redriveAt : 0,
      };
    }
    if (deliveredByItself === undefined && Date.now() - lastCountAt >= 1000) {
      lastCountAt = Date.now();
      const dead = (await system.counts()).deadLetters - deadLettersBefore;
      if (dead > 0 && n + dead >= expected) {
        deliveredByItself = n;
        redriven = dead;
        redriveAt = Date.now();
        log(`${system.name}: ${dead} receipts in the dead letters; ${system.redriveReceipts!()}`);
      }
    }
    if (Date.now() - t0 > drainTimeoutMs) {
      return {
        ms: Date.now() - t0,
        complete: false,
        deliveredByItself: deliveredByItself ?? n,
        redriven,
        redriveMs: redriven ? Date.now() - redriveAt : 0,
      };
    }
    await sleep(250);
  }
}

/**
 * The machine is shared: before a phase (its system idle, its receipts drained), wait until the whole
 * machine has been less than `quietBusy` busy over 2 s, for at most `quietWaitMs`. Returns the wait.
 */
async function waitForQuiet(): Promise<{ waitedMs: number; busy: number }> {
  const t0 = Date.now();
  for (;;) {
    const a = machineCpu();
    await sleep(2000);
    const b = machineCpu();
    const busy = a && b ? (b.busy - a.busy) / (b.total - a.total) : 0;
    if (busy < quietBusy || Date.now() - t0 >= quietWaitMs) return { waitedMs: Date.now() - t0, busy };
  }
}

/** CPU time (user + kernel, ms) of the system's processes and of the machine, now. */
function cpuOf(system: RunningSystem, smtp: SmtpControl) {
  const ms = (pid: number) => {
    const c = procCpu(pid);
    return c ? c.user + c.sys : Number.NaN;
  };
  const processes = Object.fromEntries(Object.entries(system.pids).map(([label, pid]) => [label, ms(pid)]));
  // The harness: this process (the load generator) and the bench's SMTP server.
  const harness = ms(process.pid) + ms(smtp.pid);
  return { at: performance.now(), processes, harness, machine: machineCpu() };
}

/** Cores each process kept busy between two snapshots, and the machine's busy share (all cores). */
function cpuSince(a: ReturnType<typeof cpuOf>, b: ReturnType<typeof cpuOf>) {
  const ms = b.at - a.at;
  const cores = Object.fromEntries(
    Object.keys(a.processes).map((k) => [k, (b.processes[k]! - a.processes[k]!) / ms]),
  );
  const harnessCores = (b.harness - a.harness) / ms;
  const machineBusy =
    a.machine && b.machine
      ? (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total)
      : Number.NaN;
  return { cores, harnessCores, machineBusy };
}

async function runSystem(name: SystemName, smtp: SmtpControl): Promise<SystemResult> {
  await smtp.setMode('healthy');
  log(`${name}: starting`);
  const system =
    name === 'paystream-embedded'
      ? await startPaystreamEmbedded(smtp.url, clients)
      : name === 'paystream-kafka'
        ? await startPaystreamKafka(smtp.url, clients, pgAdminUrl)
        : await startBaseline(smtp.url, clients);
  const phases: PhaseResult[] = [];
  let seq = 0;
  let clientSucceeded = 0;
  try {
    if (warmupMs > 0) {
      const domain = domainOf(name, 'warmup');
      const load = await pacedLoad((s) => system.pay(s, `r${s}@${domain}`), {
        clients,
        rate,
        windowMs: warmupMs,
        firstSeq: seq,
      });
      seq += load.sent;
      clientSucceeded += load.ok;
      const d = await drain(smtp, system, domain, load.ok, (await system.counts()).deadLetters);
      log(`${name}: warm-up ${load.ok} payments, receipts drained in ${d.ms} ms`);
    }
    for (let round = 1; round <= rounds; round += 1)
      for (const phase of phaseNames) {
        const domain = domainOf(name, `${phase}-r${round}`);
        const quiet = await waitForQuiet();
        await setSmtp(smtp, phase);
        const loadAverage = os.loadavg()[0]!;
        log(`${name}: round ${round}, phase ${phase} (SMTP ${smtp.mode}), ${windowMs / 1000} s`);
        const cpuBefore = cpuOf(system, smtp);
        const deadLettersBefore = (await system.counts()).deadLetters;
        const load = await pacedLoad((s) => system.pay(s, `r${s}@${domain}`), {
          clients,
          rate,
          windowMs,
          firstSeq: seq,
        });
        seq += load.sent;
        clientSucceeded += load.ok;
        const loadEnd = Date.now();
        const cpu = cpuSince(cpuBefore, cpuOf(system, smtp));
        await smtp.collect();
        const during = delivered(smtp, domain, loadEnd);
        await smtp.setMode('healthy');
        const charged =
          system.name === 'baseline'
            ? load.ok + (load.errors['HTTP 502 receipt_email_failed'] ?? 0)
            : load.ok;
        const d = await drain(smtp, system, domain, charged, deadLettersBefore);
        const after = delivered(smtp, domain);
        const counts = await system.counts();
        phases.push({
          phase,
          round,
          load,
          charged,
          loadAverage,
          cpu,
          quiet,
          receipts: {
            deliveredDuringPhase: during.distinctMessageIds,
            deliveredAfterRecovery: after.distinctMessageIds - during.distinctMessageIds,
            distinctMessageIds: after.distinctMessageIds,
            distinctRecipients: after.distinctRecipients,
            accepted: after.accepted,
            idMismatches: after.idMismatches,
            drainMs: d.ms,
            drainComplete: d.complete,
            deliveredByItself: d.deliveredByItself,
            redriven: d.redriven,
            redriveMs: d.redriveMs,
          },
          deadLettersSoFar: counts.deadLetters,
        });
        log(
          `${name} ${phase} (round ${round}): ${load.perSecond.toFixed(1)} payments/s, p50 ${load.latency.p50Ms.toFixed(1)} ms, ` +
            `p99 ${load.latency.p99Ms.toFixed(1)} ms, errors ${load.errorCount}, ` +
            `CPU ${Object.entries(cpu.cores)
              .map(([k, v]) => `${k} ${v.toFixed(2)}`)
              .join(', ')} cores, ` +
            `harness ${cpu.harnessCores.toFixed(2)} cores, machine ${(cpu.machineBusy * 100).toFixed(0)}% busy; receipts ${during.distinctMessageIds} ` +
            `during + ${after.distinctMessageIds - during.distinctMessageIds} after / ${charged} charged ` +
            `(drain ${d.ms} ms${d.complete ? '' : ', INCOMPLETE'}); dead letters so far ${counts.deadLetters}` +
            (d.redriven ? `, ${d.redriven} redriven by the bench` : ''),
        );
      }
    const counts = await system.counts();
    const allDomains = ['warmup', ...phases.map((p) => `${p.phase}-r${p.round}`)].map((p) =>
      domainOf(name, p),
    );
    let distinct = 0;
    let accepted = 0;
    for (const domain of allDomains) {
      const d = delivered(smtp, domain);
      distinct += d.distinctMessageIds;
      accepted += d.accepted;
    }
    return {
      system: name,
      description: system.description,
      phases,
      final: { ...counts, distinctMessageIds: distinct, accepted, clientSucceeded },
      output: system.output().slice(0, 40),
      outputLines: system.output().length,
    };
  } finally {
    await system.stop();
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const command = `node bench/decoupling.ts ${process.argv.slice(2).join(' ')}`.trim();
  log(`run ${runId}: ${command}`);
  const machine = machineInfo();
  const smtp = await SmtpControl.start();
  log(`bench SMTP server pid ${smtp.pid} on ${smtp.url}`);
  const results: SystemResult[] = [];
  try {
    for (const name of systems) results.push(await runSystem(name, smtp));
  } finally {
    await smtp.stop();
  }
  const targets = targetsOf(results);
  const date = started.toISOString().slice(0, 10);
  const report = {
    date: started.toISOString(),
    command,
    durationS: Math.round((Date.now() - started.getTime()) / 1000),
    settings: {
      systems,
      clients,
      rate,
      windowMs,
      warmupMs,
      slowMs,
      failShare,
      drainTimeoutMs,
      rounds,
      quietBusy,
      quietWaitMs,
    },
    machine,
    loadAverageAtEnd: os.loadavg(),
    targets,
    results,
    smtpCounters: smtp.counters,
  };
  mkdirSync(opts.out, { recursive: true });
  const base = path.join(opts.out, `decoupling-${date}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.png`, renderChart(results));
  writeFileSync(`${base}.md`, markdown({ ...report, chartFile: `decoupling-${date}.png` }));
  log(`report: ${base}.md`);
  for (const t of targets) log(`${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.measured}`);
}

await main();
