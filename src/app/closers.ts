/**
 * What a composition root must undo, last opened first closed. `close()` runs each closer once,
 * in reverse order of `add`, however often and however concurrently it is called (SIGTERM and a
 * failing start can both ask); a closer that fails does not stop the ones after it.
 */
export class Closers {
  readonly #closers: Array<() => Promise<void>> = [];
  readonly #onError: (error: unknown) => void;
  #closing: Promise<void> | undefined;

  constructor(onError: (error: unknown) => void = () => undefined) {
    this.#onError = onError;
  }

  add(closer: () => Promise<void>): void {
    this.#closers.push(closer);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (let i = this.#closers.length - 1; i >= 0; i -= 1) {
        await this.#closers[i]!().catch(this.#onError);
      }
    })();
    return this.#closing;
  }
}
