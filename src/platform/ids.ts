import { randomFillSync } from 'node:crypto';
import { type Clock, systemClock } from './clock.ts';

/**
 * Random bytes drawn from the CSPRNG a pool at a time, as Node's own randomUUID does: one
 * `randomBytes(16)` costs 5-6 µs here (a call into OpenSSL each time), and a payment makes several
 * ids; a slice of the pool costs well under one.
 */
const randomPool = Buffer.alloc(4096);
let randomOffset = randomPool.length;

/** 16 fresh random bytes, in a buffer of their own. */
function random16(): Buffer {
  if (randomOffset + 16 > randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  const b = Buffer.allocUnsafe(16);
  randomPool.copy(b, 0, randomOffset, randomOffset + 16);
  randomOffset += 16;
  return b;
}

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
    const b = random16();
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

/**
 * Crockford base32 of 16 bytes, 26 characters, most significant first (order-preserving): the 128
 * bits with two zero bits in front, five bits a character.
 */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 2;
  for (let i = 0; i < 16; i += 1) {
    acc = ((acc << 8) | bytes[i]!) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 31];
    }
  }
  return out;
}

/** Milliseconds since the epoch encoded in a canonical UUIDv7 string. */
export function timestampOfUuid(uuid: string): number {
  return Number.parseInt(uuid.replaceAll('-', '').slice(0, 12), 16);
}
