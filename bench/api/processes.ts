/** paystream child processes: spawn until ready, create a key. */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';

// Here, not from options.ts: other benchmarks (bench/relay.ts) use these helpers with options of their own.
const root = path.resolve(import.meta.dirname, '../..');
const cli = path.join(root, 'bin', 'paystream.ts');

export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // paystream refuses unknown PAYSTREAM_* variables: pass only the ones set here.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PAYSTREAM_')) env[k] = v;
  return { ...env, ...extra };
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** Everything it wrote after its banner (warn-level logs, errors). */
  output: string[];
  stop(): Promise<number | null>;
}

/** Spawns node <args> and waits for a stdout line matching `ready`; returns the match. */
export async function spawnUntil(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  label: string,
): Promise<{ child: Child; match: RegExpExecArray }> {
  const proc = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) => {
    proc.on('exit', (code, signal) => {
      exited = code ?? (signal ? -1 : null);
      resolve(exited);
    });
  });
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    let buffered = '';
    let found = false;
    const timer = setTimeout(() => reject(new Error(`${label} did not start in 60 s:\n${buffered}`)), 60_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      if (found) {
        output.push(text);
        return;
      }
      buffered += text;
      const m = ready.exec(buffered);
      if (m) {
        found = true;
        clearTimeout(timer);
        resolve(m);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (chunk: Buffer) => {
      if (found) output.push(chunk.toString());
      else buffered += chunk.toString();
    });
    void exit.then((code) => {
      if (!found) {
        clearTimeout(timer);
        reject(new Error(`${label} exited (${code}) before it was ready:\n${buffered}`));
      }
    });
  });
  const child: Child = {
    proc,
    pid: proc.pid!,
    output,
    async stop() {
      if (exited !== undefined) return exited;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
  };
  return { child, match };
}

export function createKey(env: NodeJS.ProcessEnv): string {
  const out = execFileSync(process.execPath, [cli, 'keys', 'create', '--name', 'bench'], {
    cwd: root,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const secret = out.trim().split('\n').pop()!.trim();
  if (!/^sk_test_/.test(secret)) throw new Error(`keys create printed no secret: ${out}`);
  return secret;
}
