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

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
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
