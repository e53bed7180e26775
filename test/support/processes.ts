import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

/** Real paystream processes for crash and online tests: spawn, wait for output, SIGKILL. */

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin', 'paystream.ts');

export interface Proc {
  name: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal) once the process is gone. */
  exited: Promise<number | string>;
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** SIGKILL (if still running) and wait until it is gone. */
  kill(): Promise<void>;
}

export function spawnPaystream(name: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: root,
    // Tests run side by side: each process's local SMTP sink takes a free port unless told one.
    env: { PAYSTREAM_SMTP_SINK_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const text = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  let gone = false;
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      gone = true;
      resolve(code ?? signal ?? 'unknown');
      for (const w of waiters) w();
    });
  });
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]!.setEncoding('utf8');
    child[stream]!.on('data', (chunk: string) => {
      text[stream] += chunk;
      for (const w of waiters) w();
    });
  }
  return {
    name,
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    waitFor(stream, pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(text[stream]);
          if (match) {
            done();
            resolve(match);
          } else if (gone) {
            done();
            reject(new Error(`${name} exited before printing ${pattern}; stderr:\n${text.stderr}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${name}: no ${pattern} within ${timeoutMs} ms; stderr:\n${text.stderr}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async kill() {
      if (!gone && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      await exited;
    },
  };
}

/** A port that was free a moment ago: listen on 0, read the port, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
