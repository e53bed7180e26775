import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../database.ts';
import type { Store } from '../store.ts';

/**
 * A named lease in the store: at most one holder at a time, on SQLite and PostgreSQL alike, across
 * processes and hosts. The holder renews it well before it expires; a holder that dies (kill -9)
 * stops renewing and another takes it once it has expired. Used where one active process keeps an
 * order or avoids duplicate work: the outbox relay, the reconciler, the embedded log's groups.
 *
 * Both writes are conditional single statements, so two contenders can never both win: PostgreSQL
 * re-checks an UPDATE's WHERE on the row version it waited for, and SQLite has one writer.
 */
export async function tryAcquireLease(
  store: Store,
  name: string,
  owner: string,
  now: number,
  leaseMs: number,
): Promise<boolean> {
  return store.transaction(async (trx) => {
    const inserted = await trx
      .insertInto('leases')
      .values({ name, owner, expires_at: now + leaseMs })
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1) return true;
    const renewed = await trx
      .updateTable('leases')
      .set({ owner, expires_at: now + leaseMs })
      .where('name', '=', name)
      .where((eb) => eb.or([eb('owner', '=', owner), eb('expires_at', '<=', now)]))
      .executeTakeFirst();
    return Number(renewed.numUpdatedRows) === 1;
  });
}

/** Gives the lease up at once (a clean stop), so a standby need not wait for it to expire. */
export async function releaseLease(store: Store, name: string, owner: string): Promise<void> {
  await store.transaction((trx) =>
    trx.deleteFrom('leases').where('name', '=', name).where('owner', '=', owner).execute(),
  );
}

/** Whoever holds a current lease on `name`, if anyone. */
export async function leaseHolder(
  db: Kysely<Database> | Transaction<Database>,
  name: string,
  now: number,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('leases')
    .select(['owner', 'expires_at'])
    .where('name', '=', name)
    .executeTakeFirst();
  return row !== undefined && Number(row.expires_at) > now ? row.owner : undefined;
}

export interface LeaseKeeperOptions {
  store: Store;
  name: string;
  owner: string;
  leaseMs: number;
  now?: () => number;
  /** Called once each time the lease is won (`held` is already true). */
  onGained?: () => Promise<void> | void;
  /** Called once each time a held lease is lost (not renewed in time, or taken). */
  onLost?: () => void;
}

/**
 * Keeps trying for a lease and renews it while held, every third of its length. `held` is true
 * only while the last renewal is unexpired, so a holder whose event loop stalled past its lease
 * stops acting as the holder even before it learns that someone else took over.
 */
export class LeaseKeeper {
  readonly #o: LeaseKeeperOptions;
  readonly #now: () => number;
  #held = false;
  #expiresAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #turn: Promise<void> | undefined;
  #stopped = false;

  constructor(options: LeaseKeeperOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get held(): boolean {
    return this.#held && this.#now() < this.#expiresAt;
  }

  /** Tries once now, then keeps trying in the background. */
  async start(): Promise<void> {
    await this.#tick();
    this.#timer = setInterval(
      () => {
        this.#turn ??= this.#tick()
          .catch(() => undefined)
          .finally(() => {
            this.#turn = undefined;
          });
      },
      Math.max(10, Math.floor(this.#o.leaseMs / 3)),
    );
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const now = this.#now();
    let won: boolean;
    let renewed = false;
    try {
      won = await tryAcquireLease(this.#o.store, this.#o.name, this.#o.owner, now, this.#o.leaseMs);
      renewed = won;
    } catch {
      // The store did not answer: a held lease stands until it expires, no longer (not renewed).
      won = this.held;
    }
    if (this.#stopped) return;
    if (won) {
      if (renewed) this.#expiresAt = Math.max(this.#expiresAt, now + this.#o.leaseMs);
      if (!this.#held) {
        this.#held = true;
        try {
          await this.#o.onGained?.();
        } catch (error) {
          // Not ready to act as the holder: try again at the next tick (the lease stays ours meanwhile).
          this.#held = false;
          throw error;
        }
      }
    } else if (this.#held) {
      this.#held = false;
      this.#o.onLost?.();
    }
  }

  /** Stops renewing and, if held, releases the lease so a standby takes over at once. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#turn;
    if (this.#held) {
      this.#held = false;
      await releaseLease(this.#o.store, this.#o.name, this.#o.owner).catch(() => undefined);
    }
  }
}
