import { randomBytes } from 'node:crypto';
import { type Clock, systemClock } from './clock.ts';

/**
 * UUIDv7 (RFC 9562) with a monotonic 12-bit counter in rand_a (method 1 of section 6.2), so ids made
 * by one process sort in creation order even within one millisecond. Resource ids (`pay_...`) are
 * the same 128 bits in Crockford base32, which keeps that order under plain string comparison: list
 * endpoints page by id.
 */
export class IdGenerator {
  readonly #clock: Clock;
  #lastMs = -1;
  #counter = 0;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** 16 bytes of a fresh UUIDv7. */
  bytes(): Buffer {
    let ms = this.#clock.now();
    if (ms <= this.#lastMs) {
      // Same millisecond (or the clock stepped back): keep the previous timestamp, bump the counter.
      ms = this.#lastMs;
      this.#counter += 1;
      if (this.#counter > 0xfff) {
        ms += 1;
        this.#counter = 0;
      }
    } else {
      this.#counter = 0;
    }
    this.#lastMs = ms;
    const b = randomBytes(16);
    b.writeUIntBE(ms, 0, 6);
    b[6] = 0x70 | (this.#counter >> 8);
    b[7] = this.#counter & 0xff;
    b[8] = 0x80 | (b[8]! & 0x3f);
    return b;
  }

  /** Canonical textual UUIDv7, e.g. the CloudEvents `id` of an event. */
  uuid(): string {
    const h = this.bytes().toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** A prefixed, time-sortable resource id such as `pay_01JD6...` (26 base32 characters). */
  resource(prefix: string): string {
    return `${prefix}_${base32(this.bytes())}`;
  }
}

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Crockford base32 of 16 bytes, 26 characters, most significant first (order-preserving). */
function base32(bytes: Buffer): string {
  let value = BigInt(`0x${bytes.toString('hex')}`);
  let out = '';
  for (let i = 0; i < 26; i += 1) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

/** Milliseconds since the epoch encoded in a canonical UUIDv7 string. */
export function timestampOfUuid(uuid: string): number {
  return Number.parseInt(uuid.replaceAll('-', '').slice(0, 12), 16);
}
