import type { ServerResponse } from 'node:http';

/**
 * Answers the sandbox is deliberately sitting on (slow and timeout test cards). Each wait ends
 * early when its client hangs up, so a 60 s hold does not outlive the request that caused it, and
 * `releaseAll` ends every wait at once so the server can close without waiting for them.
 */
export class HeldAnswers {
  readonly #waits = new Set<() => void>();
  #closed = false;

  /** True after `ms`; false as soon as the client hangs up or the server closes (send nothing then). */
  wait(ms: number, response: ServerResponse): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const finish = (elapsed: boolean): void => {
        clearTimeout(timer);
        response.off('close', abandon);
        this.#waits.delete(abandon);
        resolve(elapsed);
      };
      const abandon = (): void => finish(false);
      const timer = setTimeout(() => finish(true), ms);
      response.on('close', abandon);
      this.#waits.add(abandon);
    });
  }

  releaseAll(): void {
    this.#closed = true;
    for (const abandon of [...this.#waits]) abandon();
  }
}
