/** The parent's side of the controllable SMTP server (smtp-server.ts): fork it, switch modes, collect. */

import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import type { AcceptedMessage, FromChild, SmtpCounters, SmtpMode, ToChild } from './smtp-server.ts';

export class SmtpControl {
  readonly #child: ChildProcess;
  readonly #waiting: Array<(message: FromChild) => void> = [];
  /** Every message accepted so far, in order. */
  readonly accepted: AcceptedMessage[] = [];
  counters: SmtpCounters = { received: 0, accepted: 0, refused451: 0, refused554: 0, connectionsCut: 0 };
  port = 0;
  mode: SmtpMode = 'healthy';

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (message: FromChild) => this.#waiting.shift()?.(message));
  }

  get pid(): number {
    return this.#child.pid!;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<SmtpControl> {
    const child = fork(path.join(import.meta.dirname, 'smtp-server.ts'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const control = new SmtpControl(child);
    const first = await control.#next();
    if (first.kind !== 'mode') throw new Error('the bench SMTP server did not start');
    control.port = first.port;
    return control;
  }

  #next(): Promise<FromChild> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the bench SMTP server exited (${code})`));
      this.#child.once('exit', onExit);
      this.#waiting.push((message) => {
        this.#child.off('exit', onExit);
        resolve(message);
      });
    });
  }

  async #ask(message: ToChild): Promise<FromChild> {
    const answer = this.#next();
    this.#child.send(message);
    return answer;
  }

  async setMode(mode: SmtpMode, options: { slowMs?: number; failShare?: number } = {}): Promise<void> {
    const answer = await this.#ask({ cmd: 'mode', mode, ...options });
    if (answer.kind !== 'mode') throw new Error('unexpected answer from the bench SMTP server');
    // It comes back up on the port it had: the systems under test keep their SMTP URL.
    if (mode !== 'down' && answer.port !== this.port) {
      throw new Error(`the bench SMTP server came back on port ${answer.port}, not ${this.port}`);
    }
    this.mode = mode;
  }

  /** Collects what the server accepted since the last call into `accepted`; returns the new ones. */
  async collect(): Promise<AcceptedMessage[]> {
    const answer = await this.#ask({ cmd: 'take' });
    if (answer.kind !== 'accepted') throw new Error('unexpected answer from the bench SMTP server');
    this.accepted.push(...answer.messages);
    this.counters = answer.counters;
    return answer.messages;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.disconnect();
    await exited;
  }
}
