import { sql, type Transaction } from 'kysely';
import type { OutboxWriter } from '../../events/outbox.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Database } from '../../store/database.ts';
import type { Store } from '../../store/store.ts';
import type { Emit, Middleware, RuntimeContext } from '../consumer.ts';
import { AbandonedError, AlreadyProcessedError, DryRunRollback } from '../errors.ts';

export interface InboxOptions {
  store: Store;
  clock: Clock;
  outbox: OutboxWriter;
  /** Apply events even when the inbox has them (an explicit replay bypass). Rows are still written. */
  bypass?: boolean;
}

/**
 * The inbox: an event the consumer has applied is skipped when it comes again. Its row is written
 * in the handler's own transaction (`ctx.transaction`), with the runtime's writes (the embedded
 * log's offset, a redrive's mark) and whatever the handler emits to the outbox: all of it commits
 * together or none of it does. Two deliveries of one event racing each other (a rebalance) both
 * try to insert the row; the loser's transaction rolls back, and it counts as already applied.
 * In a dry run the transaction runs and is rolled back.
 */
export function inbox(options: InboxOptions): Middleware<RuntimeContext> {
  const { store, clock, outbox } = options;
  const bypass = options.bypass ?? false;
  return (next) => async (ctx) => {
    if (!bypass && (await applied(store, ctx.consumer, ctx.event.id))) {
      ctx.outcome.skipped = 'inbox';
      return;
    }
    let opened = false;
    const transaction = async <T>(
      work: (trx: Transaction<Database>, emit: Emit) => Promise<T>,
    ): Promise<T> => {
      if (opened) throw new Error('ctx.transaction may be called once per attempt');
      opened = true;
      if (ctx.signal.aborted) {
        throw ctx.signal.reason instanceof Error
          ? ctx.signal.reason
          : new AbandonedError('the attempt was aborted');
      }
      try {
        return await store.transaction(async (trx) => {
          const row = await trx
            .insertInto('runtime_inbox')
            .values({ consumer: ctx.consumer, event_id: ctx.event.id, processed_at: clock.now() })
            .onConflict((oc) => oc.columns(['consumer', 'event_id']).doNothing())
            .executeTakeFirst();
          if (Number(row.numInsertedOrUpdatedRows ?? 0n) !== 1 && !bypass) throw new AlreadyProcessedError();
          const result = await work(trx, (event) => outbox.write(trx, event));
          for (const write of ctx.inTransaction) await write(trx);
          if (ctx.dryRun) throw new DryRunRollback(result);
          return result;
        });
      } catch (error) {
        if (error instanceof DryRunRollback) return error.result as T;
        throw error;
      }
    };
    try {
      await next({ ...ctx, transaction });
      if (!opened) await transaction(async () => undefined);
    } catch (error) {
      if (!(error instanceof AlreadyProcessedError)) throw error;
      ctx.outcome.skipped = 'inbox';
    }
  };
}

async function applied(store: Store, consumer: string, eventId: string): Promise<boolean> {
  const row = await store.db
    .selectFrom('runtime_inbox')
    .select('event_id')
    .where('consumer', '=', consumer)
    .where('event_id', '=', eventId)
    .executeTakeFirst();
  return row !== undefined;
}

/** Deletes inbox rows older than `before` (epoch ms), a slice per transaction; returns how many. */
export async function purgeInbox(store: Store, before: number, slice = 5000): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await store.transaction(async (trx) => {
      const result = await sql`delete from runtime_inbox where (consumer, event_id) in (
          select consumer, event_id from runtime_inbox where processed_at < ${before} limit ${slice})`.execute(
        trx,
      );
      return Number(result.numAffectedRows ?? 0n);
    });
    total += deleted;
    if (deleted < slice) return total;
  }
}
