/**
 * Summarises a V8 .cpuprofile (from `node bench/api.ts --cpu-prof`) for the benchmark's questions:
 * where does the paystream process spend its CPU per payment?
 *
 *   node bench/cpuprof-summary.ts <file.cpuprofile> [--payments N] [--top 25]
 *
 * Prints (1) self time by component (package or source directory), (2) time attributed to the
 * innermost paystream source frame of each sample ("who asked for this work", libraries included),
 * (3) the top functions by self time. With --payments, times are also given per payment.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { payments: { type: 'string' }, top: { type: 'string', default: '25' } },
});
const file = positionals[0];
if (!file) {
  process.stderr.write('usage: node bench/cpuprof-summary.ts <file.cpuprofile> [--payments N] [--top 25]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const payments = values.payments === undefined ? undefined : Number(values.payments);
const top = Number(values.top);

const byId = new Map<number, ProfileNode>();
const parent = new Map<number, number>();
for (const n of profile.nodes) byId.set(n.id, n);
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** Which component a frame belongs to: an npm package, a paystream source directory, node, or V8. */
function component(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'V8: garbage collector';
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(program)') return 'V8/native: (program)';
    return `native: ${functionName || '(anonymous)'}`;
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return `npm: ${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) {
    const parts = url.slice(src + 1).split('/');
    return parts.length > 2 ? `${parts.slice(0, -1).join('/')}/` : parts.join('/');
  }
  if (url.startsWith('node:')) {
    const name = url.slice('node:'.length);
    if (name.startsWith('internal/deps/undici')) return 'node: internal undici (fetch)';
    if (/^internal\/(http|_http)|^_http|^http/.test(name)) return 'node: http';
    if (/net|stream|tcp|socket/.test(name)) return 'node: net/streams';
    if (/timers|process\/task_queues|async_hooks|promise/.test(name)) return 'node: timers/tasks';
    return `node: ${name.replace(/^internal\//, '').split('/')[0]}`;
  }
  return url;
}

function isPaystreamSource(frame: CallFrame): boolean {
  return frame.url.includes('/src/') && !frame.url.includes('/node_modules/');
}

const selfByComponent = new Map<string, number>();
const attributed = new Map<string, number>();
const selfByFunction = new Map<string, number>();
let total = 0;
let idle = 0;
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

for (let i = 0; i < profile.samples.length; i += 1) {
  const node = byId.get(profile.samples[i]!)!;
  const us = profile.timeDeltas[i] ?? 0;
  const frame = node.callFrame;
  if (frame.functionName === '(idle)') {
    idle += us;
    continue;
  }
  total += us;
  add(selfByComponent, component(frame), us);
  const where = frame.url
    ? `${frame.url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${frame.lineNumber + 1}`
    : '';
  add(selfByFunction, `${frame.functionName || '(anonymous)'} ${where}`.trim(), us);
  // Innermost paystream source frame on the stack.
  let cursor: ProfileNode | undefined = node;
  let owner: string | undefined;
  while (cursor) {
    if (isPaystreamSource(cursor.callFrame)) {
      const url = cursor.callFrame.url;
      owner = `${url.slice(url.indexOf('/src/') + 1)} ${cursor.callFrame.functionName || '(anonymous)'}`;
      break;
    }
    const p = parent.get(cursor.id);
    cursor = p === undefined ? undefined : byId.get(p);
  }
  add(attributed, owner ?? `(no paystream frame) ${component(frame)}`, us);
}

const wallUs = profile.endTime - profile.startTime;
const ms = (us: number) => us / 1000;
function table(title: string, m: Map<string, number>, limit: number): void {
  process.stdout.write(`\n## ${title}\n\n| | ms | % of busy |${payments ? ' µs / payment |' : ''}\n`);
  process.stdout.write(`|---|---:|---:|${payments ? '---:|' : ''}\n`);
  const rows = [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit);
  for (const [k, v] of rows) {
    const per = payments ? ` ${(v / payments).toFixed(1)} |` : '';
    process.stdout.write(`| ${k} | ${ms(v).toFixed(0)} | ${((v / total) * 100).toFixed(1)}% |${per}\n`);
  }
}

process.stdout.write(
  `profile ${file}\nwall ${ms(wallUs).toFixed(0)} ms, busy (non-idle samples) ${ms(total).toFixed(0)} ms, idle ${ms(
    idle,
  ).toFixed(
    0,
  )} ms${payments ? `, ${payments} payments: ${(total / payments).toFixed(1)} µs busy per payment` : ''}\n`,
);
table('Self time by component', selfByComponent, 40);
table('Attributed to the innermost paystream source frame (libraries it called included)', attributed, top);
table('Top functions by self time', selfByFunction, top);
