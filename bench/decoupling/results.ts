/** What the decoupling bench measures per phase and system, and its targets. */

import type { PhaseLoad } from './load.ts';
import type { SystemCounts, SystemName } from './systems.ts';

export const phaseNames = ['healthy', 'slow', 'failing', 'down'] as const;
export type PhaseName = (typeof phaseNames)[number];

export const phaseTitles: Record<PhaseName, string> = {
  healthy: 'SMTP healthy',
  slow: 'SMTP 2 s slow',
  failing: 'SMTP failing 30%',
  down: 'SMTP down',
};

export interface PhaseResult {
  phase: PhaseName;
  /** The phases run in order, `--rounds` times over. */
  round: number;
  load: PhaseLoad;
  /** Payments charged in the phase: successes, and for the baseline also the 502s (charged, no receipt). */
  charged: number;
  /** 1-minute load average when the phase started (the machine is shared). */
  loadAverage: number;
  /**
   * Cores the system's processes kept busy during the phase's load, the harness's (the load generator
   * and the SMTP server), and the machine's busy share (both cores, everything).
   */
  cpu: { cores: Record<string, number>; harnessCores: number; machineBusy: number };
  /** How long the bench waited for a quiet machine before the phase, and the busy share it saw last. */
  quiet: { waitedMs: number; busy: number };
  receipts: {
    /** Distinct Message-IDs accepted by the SMTP server before the phase's load ended. */
    deliveredDuringPhase: number;
    /** ...and after, once the SMTP server was healthy again (paystream's retries and resumed consumer). */
    deliveredAfterRecovery: number;
    distinctMessageIds: number;
    distinctRecipients: number;
    /** Messages accepted, duplicates included. */
    accepted: number;
    /** paystream: messages whose Message-ID is not `<X-Paystream-Event-Id@receipts.paystream>`. */
    idMismatches: number;
    drainMs: number;
    drainComplete: boolean;
    /** Receipts of the phase delivered by paystream's own retries, before any operator action. */
    deliveredByItself: number;
    /** Receipts paystream dead-lettered in the phase, which the bench redrove as an operator would. */
    redriven: number;
    /** From the redrive to the last receipt. */
    redriveMs: number;
  };
  deadLettersSoFar: number;
}

export interface SystemResult {
  system: SystemName;
  description: string;
  phases: PhaseResult[];
  final: SystemCounts & { distinctMessageIds: number; accepted: number; clientSucceeded: number };
  output: string[];
  outputLines: number;
}

export interface Target {
  name: string;
  measured: string;
  pass: boolean;
}

const ms = (n: number) => `${n.toLocaleString('en-US', { maximumFractionDigits: 1 })} ms`;
const x = (n: number) => `${n.toLocaleString('en-US', { maximumFractionDigits: 2 })}x`;

export function median(values: number[]): number {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** A figure of one phase: the median over its rounds (the figure itself with one round). */
export function phaseFigure(
  result: SystemResult | undefined,
  phase: PhaseName,
  figure: (p: PhaseResult) => number,
): number {
  return median((result?.phases ?? []).filter((p) => p.phase === phase).map(figure));
}

const p99 = (p: PhaseResult) => p.load.latency.p99Ms;
const roundsOf = (result: SystemResult, phase: PhaseName) => result.phases.filter((p) => p.phase === phase);

export function targetsOf(results: SystemResult[]): Target[] {
  const targets: Target[] = [];
  const baseline = results.find((r) => r.system === 'baseline');
  for (const r of results.filter((s) => s.system !== 'baseline')) {
    const h = phaseFigure(r, 'healthy', p99);
    if (Number.isNaN(h)) continue;
    const several = roundsOf(r, 'healthy').length > 1;
    const each = (phase: PhaseName) =>
      several
        ? ` (rounds: ${roundsOf(r, phase)
            .map((p) => ms(p99(p)))
            .join(', ')})`
        : '';
    for (const phase of ['slow', 'down'] as const) {
      const v = phaseFigure(r, phase, p99);
      if (Number.isNaN(v)) continue;
      const errors = roundsOf(r, phase).reduce((a, p) => a + p.load.errorCount, 0);
      const ratio = v / h;
      targets.push({
        name: `${r.system}: payment p99 with ${phaseTitles[phase]} <= 1.2x its p99 with SMTP healthy`,
        measured: `${ms(v)} / ${ms(h)} = ${x(ratio)}${each(phase)}${several ? `; healthy${each('healthy')}` : ''}${errors ? `, ${errors} errors` : ''}`,
        pass: ratio <= 1.2 && errors === 0,
      });
    }
    const f = r.final;
    const exact = f.distinctMessageIds === f.succeeded && f.succeeded === f.clientSucceeded;
    const redriven = r.phases.reduce((a, p) => a + p.receipts.redriven, 0);
    const measured =
      `${f.distinctMessageIds} distinct Message-IDs / ${f.succeeded} succeeded payments in its database ` +
      `(${f.clientSucceeded} successes seen by the clients); ${f.accepted} messages accepted in all`;
    targets.push({
      name: `${r.system}: after recovery, exactly one receipt per succeeded payment with a receipt_email (distinct Message-IDs == payments), by its own retries`,
      measured: redriven
        ? `${redriven} receipts were dead-lettered and arrived only after an operator redrive; ${measured}`
        : `${measured}; no dead letters`,
      pass: exact && redriven === 0,
    });
    if (redriven) {
      targets.push({
        name: `${r.system}: the same, after \`paystream dead-letters redrive --consumer receipts\` (operator action)`,
        measured,
        pass: exact,
      });
    }
    const slow = phaseFigure(baseline, 'slow', p99);
    if (!Number.isNaN(slow)) {
      const ratio = slow / h;
      targets.push({
        name: `baseline p99 with SMTP 2 s slow >= 20x ${r.system}'s p99 with SMTP healthy`,
        measured: `${ms(slow)} / ${ms(h)} = ${x(ratio)}`,
        pass: ratio >= 20,
      });
    }
  }
  return targets;
}

export type { PhaseLoad, SystemCounts };
