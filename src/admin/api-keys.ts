import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../platform/clock.ts';
import { PaystreamError } from '../platform/errors.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Database } from '../store/database.ts';
import type { Store } from '../store/store.ts';
import { toNumber } from '../store/store.ts';
import type { ApiKeyRole } from './tables.ts';

/**
 * Secret API keys, Stripe style: `sk_test_...` / `sk_live_...`, sent as `Authorization: Bearer`.
 * Only a SHA-256 of the secret is stored (the secret has 192 random bits, so a plain hash is enough:
 * there is nothing to brute-force). Each key belongs to one merchant and sees only its objects.
 * An `admin` key is the platform operator's: it reaches /v1/admin (dead letters, consumers) and no
 * merchant's objects; its merchant id only scopes its Idempotency-Keys.
 */
export interface ApiKey {
  id: string;
  merchantId: string;
  livemode: boolean;
  redacted: string;
  name: string | null;
  createdAt: number;
  revokedAt: number | null;
  role: ApiKeyRole;
}

export interface AuthenticatedKey {
  apiKeyId: string;
  merchantId: string;
  livemode: boolean;
  role: ApiKeyRole;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

const SECRET_PATTERN = /^sk_(test|live)_[A-Za-z0-9]{32}$/;
const MERCHANT_PATTERN = /^acct_[0-9A-Z]{26}$/;

export interface ApiKeysOptions {
  /**
   * How long a successful lookup is reused without asking the store. A key revoked by THIS process
   * stops at once; one revoked by another process (the CLI) stops within this time.
   */
  authCacheMs?: number;
  /** Most cached keys; the cache is emptied when full. */
  authCacheSizeMax?: number;
}

export class ApiKeys {
  readonly #store: Store;
  readonly #ids: IdGenerator;
  readonly #clock: Clock;
  readonly #authCacheMs: number;
  readonly #authCacheSizeMax: number;
  /** secret hash -> the key and when the entry stops being trusted. Only hits are cached. */
  readonly #authCache = new Map<string, { key: AuthenticatedKey; expiresAt: number }>();
  /** Revokes committed by this process so far: a lookup that saw it change is not cached. */
  #revocations = 0;

  constructor(store: Store, ids: IdGenerator, clock: Clock, options: ApiKeysOptions = {}) {
    this.#store = store;
    this.#ids = ids;
    this.#clock = clock;
    this.#authCacheMs = options.authCacheMs ?? 2000;
    this.#authCacheSizeMax = options.authCacheSizeMax ?? 10_000;
  }

  /** Creates a key; the secret is returned this once and never again. A new merchant unless one is named. */
  async create(
    options: { merchantId?: string; livemode?: boolean; name?: string; role?: ApiKeyRole } = {},
  ): Promise<{
    key: ApiKey;
    secret: string;
  }> {
    if (options.merchantId !== undefined && !MERCHANT_PATTERN.test(options.merchantId)) {
      throw new PaystreamError(
        'PAYSTREAM_VALIDATION',
        `a merchant id looks like acct_ followed by 26 characters (got "${options.merchantId}")`,
        'merchant',
      );
    }
    const role = options.role ?? 'merchant';
    if (role === 'admin' && options.merchantId !== undefined) {
      throw new PaystreamError(
        'PAYSTREAM_VALIDATION',
        "an admin key belongs to no merchant: don't name one",
        'merchant',
      );
    }
    const livemode = options.livemode ?? false;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    // 62^32 > 2^190; the modulo bias of bytes over 62 symbols is irrelevant at that size.
    const body = [...randomBytes(32)].map((b) => alphabet[b % 62]).join('');
    const secret = `sk_${livemode ? 'live' : 'test'}_${body}`;
    const key: ApiKey = {
      id: this.#ids.resource('key'),
      merchantId: options.merchantId ?? this.#ids.resource('acct'),
      livemode,
      redacted: `${secret.slice(0, 12)}...${secret.slice(-4)}`,
      name: options.name ?? null,
      createdAt: this.#clock.now(),
      revokedAt: null,
      role,
    };
    await this.#store.transaction((trx) =>
      trx
        .insertInto('api_keys')
        .values({
          id: key.id,
          merchant_id: key.merchantId,
          livemode: livemode ? 1 : 0,
          secret_hash: hashSecret(secret),
          redacted: key.redacted,
          name: key.name,
          created_at: key.createdAt,
          revoked_at: null,
          role,
        })
        .execute(),
    );
    return { key, secret };
  }

  async list(): Promise<ApiKey[]> {
    const rows = await this.#store.db
      .selectFrom('api_keys')
      .select(['id', 'merchant_id', 'livemode', 'redacted', 'name', 'created_at', 'revoked_at', 'role'])
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      merchantId: r.merchant_id,
      livemode: Number(r.livemode) === 1,
      redacted: r.redacted,
      name: r.name,
      createdAt: toNumber(r.created_at),
      revokedAt: r.revoked_at === null ? null : toNumber(r.revoked_at),
      role: r.role,
    }));
  }

  /**
   * Returns false when no active key has that id. Once it returns, this process refuses the key:
   * the cache is emptied AFTER the revoke commits, and a lookup that overlapped the revoke (and may
   * have read the key as still active) is not cached (the generation moved on meanwhile).
   */
  async revoke(id: string): Promise<boolean> {
    const result = await this.#store.transaction((trx) =>
      trx
        .updateTable('api_keys')
        .set({ revoked_at: this.#clock.now() })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst(),
    );
    this.#revocations += 1;
    this.#authCache.clear();
    return Number(result.numUpdatedRows) === 1;
  }

  async count(): Promise<number> {
    const row = await this.#store.db
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** The active key behind a secret, or undefined (unknown, malformed or revoked). */
  async authenticate(secret: string): Promise<AuthenticatedKey | undefined> {
    if (!SECRET_PATTERN.test(secret)) return undefined;
    const hash = hashSecret(secret);
    const now = this.#clock.now();
    const cached = this.#authCache.get(hash);
    if (cached && cached.expiresAt > now) return cached.key;
    const generation = this.#revocations;
    const row = await lookup(this.#store.db, hash);
    if (!row) {
      this.#authCache.delete(hash);
      return undefined;
    }
    const key: AuthenticatedKey = {
      apiKeyId: row.id,
      merchantId: row.merchant_id,
      livemode: Number(row.livemode) === 1,
      role: row.role,
    };
    if (generation !== this.#revocations) return key; // a revoke overlapped the lookup: do not remember it
    if (this.#authCache.size >= this.#authCacheSizeMax) this.#authCache.clear();
    this.#authCache.set(hash, { key, expiresAt: now + this.#authCacheMs });
    return key;
  }
}

function lookup(db: Kysely<Database>, secretHash: string) {
  return db
    .selectFrom('api_keys')
    .select(['id', 'merchant_id', 'livemode', 'role'])
    .where('secret_hash', '=', secretHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
}
