import type { Int64 } from '../database.ts';

export interface LeaseTable {
  /** What the lease is for: `relay`, `reconciler`, `event_log_group:<group>`, ... */
  name: string;
  owner: string;
  expires_at: Int64;
}

declare module '../database.ts' {
  interface Database {
    leases: LeaseTable;
  }
}
