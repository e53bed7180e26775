import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../../store/database.ts';
import type { Store } from '../../store/store.ts';

/**
 * One active member per consumer group: the member whose lease is current. It renews the lease
 * well before it expires; a member that dies (kill -9) stops renewing, and a standby takes the
 * lease once it has expired. Leases use wall-clock time, shared by every process on the machine.
 */

/** Takes or renews the group's lease for `owner`; true when `owner` holds it afterwards. */
export function acquireGroupLease(
  store: Store,
  group: string,
  owner: string,
  now: number,
  leaseMs: number,
): Promise<boolean> {
  return store.transaction(async (trx) => {
    const current = await trx
      .selectFrom('event_log_group_leases')
      .select(['owner', 'expires_at'])
      .where('group_name', '=', group)
      .executeTakeFirst();
    if (current === undefined) {
      await trx
        .insertInto('event_log_group_leases')
        .values({ group_name: group, owner, expires_at: now + leaseMs })
        .execute();
      return true;
    }
    if (current.owner !== owner && Number(current.expires_at) > now) return false;
    await trx
      .updateTable('event_log_group_leases')
      .set({ owner, expires_at: now + leaseMs })
      .where('group_name', '=', group)
      .execute();
    return true;
  });
}

export async function releaseGroupLease(store: Store, group: string, owner: string): Promise<void> {
  await store.transaction((trx) =>
    trx
      .deleteFrom('event_log_group_leases')
      .where('group_name', '=', group)
      .where('owner', '=', owner)
      .execute(),
  );
}

/** True while some member holds a current lease on the group. */
export async function groupHasActiveMember(
  db: Kysely<Database> | Transaction<Database>,
  group: string,
  now: number,
): Promise<boolean> {
  const lease = await db
    .selectFrom('event_log_group_leases')
    .select('expires_at')
    .where('group_name', '=', group)
    .executeTakeFirst();
  return lease !== undefined && Number(lease.expires_at) > now;
}
