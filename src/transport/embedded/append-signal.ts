import { closeSync, type FSWatcher, openSync, utimes, watch } from 'node:fs';
import path from 'node:path';

/**
 * Wakes consumers when the log may have grown, without busy polling.
 * `announce()` after each commit that appended: in this process it wakes the waiters at once; for
 * other processes sharing the file it touches `<file>-appended`, which they watch (inotify through
 * fs.watch). Only appends touch it: watching the WAL instead would wake every consumer on every
 * commit of any process (each payment's), to find nothing new. A sequence number closes the gap
 * between a consumer's empty fetch and its wait: a notification in between makes the wait return
 * at once.
 */
export class AppendSignal {
  #sequence = 0;
  readonly #waiters = new Set<() => void>();
  #watcher: FSWatcher | undefined;
  #notifyScheduled = false;
  #signalFile: string | undefined;
  #touching = false;
  #touchAgain = false;

  /** Watches `<file>-appended` for announcements by other processes (and creates it if missing). */
  watchFile(file: string): void {
    const signalName = `${path.basename(file)}-appended`;
    const signalFile = path.join(path.dirname(file), signalName);
    try {
      closeSync(openSync(signalFile, 'a'));
      this.#signalFile = signalFile;
      this.#watcher = watch(path.dirname(file), { persistent: false }, (_event, name) => {
        // Coalesce a burst of announcements into one wake-up.
        if (name === signalName && !this.#notifyScheduled) {
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

  /**
   * After a commit that appended: wakes this process's and other processes' consumers. The touch
   * runs on libuv's thread pool, not on the caller's event loop (a synchronous one cost the
   * embedded API about 1% of its time); announcements made while one is in flight make one more.
   */
  announce(): void {
    this.notify();
    if (this.#signalFile === undefined) return;
    if (this.#touching) this.#touchAgain = true;
    else this.#touch(this.#signalFile);
  }

  #touch(signalFile: string): void {
    this.#touching = true;
    const now = new Date();
    // An error means the file is gone (its directory removed): the other processes' poll still
    // finds the records.
    utimes(signalFile, now, now, () => {
      this.#touching = false;
      if (this.#touchAgain) {
        this.#touchAgain = false;
        this.#touch(signalFile);
      }
    });
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
