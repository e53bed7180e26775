import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';

/** A transaction callback ran past its deadline: it was rolled back, and its handle no longer works. */
export class TransactionDeadlineError extends Error {
  override name = 'TransactionDeadlineError';
}

/**
 * Makes a transaction handle stop working once its callback is over. Installed on the handle a
 * callback receives (`trx.withPlugin(guard)`): after `revoke()`, every query through it throws
 * before it reaches the connection. Without it, a callback abandoned at its deadline could wake up
 * later and write into whatever transaction the connection is running by then.
 */
export class HandleGuard implements KyselyPlugin {
  #revokedBecause: string | undefined;

  revoke(reason: string): void {
    this.#revokedBecause ??= reason;
  }

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (this.#revokedBecause !== undefined) {
      throw new TransactionDeadlineError(`this transaction handle is closed: ${this.#revokedBecause}`);
    }
    return args.node;
  }

  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return Promise.resolve(args.result);
  }
}

/**
 * Deadlines for jobs run one at a time (the SQLite writer's): ONE timer, re-armed with `refresh()`
 * for each job instead of a timer made and cleared per job, which is measurable at thousands of
 * transactions per second.
 */
export class SerialDeadline {
  readonly #timer: NodeJS.Timeout;
  #expire: ((error: Error) => void) | undefined;

  constructor(deadlineMs: number) {
    this.#timer = setTimeout(() => {
      const expire = this.#expire;
      this.#expire = undefined;
      expire?.(new TransactionDeadlineError(`the transaction callback took longer than ${deadlineMs} ms`));
    }, deadlineMs);
    this.#timer.unref();
  }

  /** Like withDeadline; never called again before the previous call has settled. */
  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#expire = reject;
      this.#timer.refresh();
      work().then(
        (value) => {
          this.#expire = undefined;
          resolve(value);
        },
        (error: unknown) => {
          this.#expire = undefined;
          reject(error);
        },
      );
    });
  }

  close(): void {
    clearTimeout(this.#timer);
  }
}

/**
 * Settles with `work`, or rejects with TransactionDeadlineError once `deadlineMs` has passed. The
 * work goes on in the background when abandoned; its late failure is swallowed (its handle is
 * revoked by then, so whatever it still tries fails without effect).
 */
export async function withDeadline<T>(work: Promise<T>, deadlineMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new TransactionDeadlineError(`the transaction callback took longer than ${deadlineMs} ms`)),
      deadlineMs,
    );
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
