/**
 * What-if experiments for the lead, loaded into the paystream process under test with
 * `node --import ./bench/whatif.ts` (bench/api.ts --whatif NAME does it). They patch the loaded
 * modules in memory to estimate what an optimisation would be worth before anyone writes it; they
 * change nothing on disk and are never part of the benchmark's own figures.
 *
 *   BENCH_WHATIF=auth-cache   ApiKeys.authenticate answers from a per-process cache (10 s), so a
 *                             request costs no api_keys lookup (one query and one pool checkout less).
 *   BENCH_WHATIF=no-relay     The outbox relay never starts: what moving each event into the embedded
 *                             log costs the API (the events stay in the outbox).
 */
import { ApiKeys } from '../src/admin/api-keys.ts';
import { OutboxRelay } from '../src/relay/outbox-relay.ts';

const experiments = (process.env['BENCH_WHATIF'] ?? '').split(',').filter(Boolean);

for (const name of experiments) {
  if (name === 'auth-cache') {
    const original = ApiKeys.prototype.authenticate;
    const cache = new Map<string, { at: number; value: Awaited<ReturnType<ApiKeys['authenticate']>> }>();
    ApiKeys.prototype.authenticate = async function (this: ApiKeys, secret: string) {
      const hit = cache.get(secret);
      if (hit && Date.now() - hit.at < 10_000) return hit.value;
      const value = await original.call(this, secret);
      cache.set(secret, { at: Date.now(), value });
      return value;
    };
  } else if (name === 'no-relay') {
    OutboxRelay.prototype.start = async () => undefined;
  } else {
    throw new Error(`bench/whatif.ts: unknown experiment "${name}"`);
  }
}
