import type { Generated } from 'kysely';
import type { Int64 } from '../store/database.ts';

/** `merchant`: the merchant's own objects under /v1. `admin`: the platform's, under /v1/admin only. */
export type ApiKeyRole = 'merchant' | 'admin';

export interface ApiKeyTable {
  id: string;
  merchant_id: string;
  livemode: number;
  /** SHA-256 of the secret, hex; the secret itself is never stored. */
  secret_hash: string;
  /** `sk_test_abcd...wxyz`: enough to recognise a key in a list. */
  redacted: string;
  name: string | null;
  created_at: Int64;
  revoked_at: Int64 | null;
  role: Generated<ApiKeyRole>;
}

declare module '../store/database.ts' {
  interface Database {
    api_keys: ApiKeyTable;
  }
}
