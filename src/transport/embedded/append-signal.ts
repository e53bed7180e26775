import { type FSWatcher, watch } from 'node:fs';
import path from 'node:path';

/**
 * Wakes consumers when the log may have grown, without busy polling. In this process, `notify()`
 * after each append; from other processes sharing the file, a change of its WAL file (inotify
 * through fs.watch). A sequence number closes the gap between a consumer's empty fetch and its
 * wait: a notification in between makes the wait return at once.
 */
export class AppendSignal {
  #sequence = 0;
  readonly #waiters = new Set<() => void>();
  #watcher: FSWatcher | undefined;
  #notifyScheduled = false;

  /** Watches `<file>-wal` for writes by other processes. */
  watchFile(file: string): void {
    const walName = `${path.basename(file)}-wal`;
    try {
      this.#watcher = watch(path.dirname(file), { persistent: false }, (_event, name) => {
        // Every commit of any process touches the WAL: coalesce a burst into one wake-up.
        if (name === walName && !this.#notifyScheduled) {
          this.#notifyScheduled = true;
          setImmediate(() => {
            this.#notifyScheduled = false;
            this.notify();
          });
        }
      });
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      // No inotify (an unusual file system): the consumers' poll interval still finds new records.
    }
  }

  get sequence(): number {
    return this.#sequence;
  }

  notify(): void {
    this.#sequence += 1;
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  /** Resolves on the next notification after `seenSequence`, or after `timeoutMs`. */
  wait(seenSequence: number, timeoutMs: number): Promise<void> {
    if (this.#sequence !== seenSequence) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  close(): void {
    this.#watcher?.close();
    this.notify();
  }
}
