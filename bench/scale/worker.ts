/**
 * One worker process of the scale bench: a ConsumerRunner built with the real runtime (inbox,
 * retry, dead letter, breaker, timeout, concurrency), the real Kafka transport and the real
 * PostgreSQL store, running an I/O-bound consumer: each event waits BENCH_HANDLER_MS (a provider
 * call), then records itself in the inbox through `ctx.transaction`. Not a product service, so not
 * `paystream worker`. Forked by bench/scale.ts; reports what it handled over IPC twice a second.
 *
 * Environment: BENCH_DATABASE_URL, BENCH_BROKERS, BENCH_CONSUMER (its name and group),
 * BENCH_CONCURRENCY, BENCH_HANDLER_MS.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { migrationSets } from '../../src/app/migrations.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import type { Logger } from '../../src/platform/logger.ts';
import { Breakers } from '../../src/runtime/breakers.ts';
import type { ConsumerDefinition } from '../../src/runtime/consumer.ts';
import { DeadLetters } from '../../src/runtime/dead-letters.ts';
import { ConsumerRunner } from '../../src/runtime/runner.ts';
import { openStore } from '../../src/store/open.ts';
import { KafkaTransport } from '../../src/transport/kafka/kafka-transport.ts';

export interface WorkerReport {
  kind: 'report';
  pid: number;
  /** Events applied by this process so far (inbox rows it wrote). */
  applied: number;
  /** Events it finished otherwise (skipped by the inbox after a rebalance, dead-lettered...). */
  other: number;
  /** Epoch ms of its last applied event. */
  lastAppliedAt: number;
}

const env = process.env;
const handlerMs = Number(env['BENCH_HANDLER_MS']);
const name = env['BENCH_CONSUMER']!;

const log: Logger = {
  info: () => undefined,
  debug: () => undefined,
  warn: (o, m) => process.stderr.write(`[worker ${process.pid}] warn ${m ?? ''} ${JSON.stringify(o)}\n`),
  error: (o, m) => process.stderr.write(`[worker ${process.pid}] error ${m ?? ''} ${JSON.stringify(o)}\n`),
};

const store = openStore(loadConfig({ PAYSTREAM_DATABASE_URL: env['BENCH_DATABASE_URL']! }), migrationSets);
const transport = new KafkaTransport({
  brokers: env['BENCH_BROKERS']!.split(','),
  clientId: `scale-${process.pid}`,
});
const ids = new IdGenerator();

const consumer: ConsumerDefinition = {
  name,
  group: name,
  types: ['payment.succeeded'],
  concurrency: Number(env['BENCH_CONCURRENCY']),
  async handle(ctx) {
    await sleep(handlerMs, undefined, { signal: ctx.signal });
    await ctx.transaction(async () => undefined);
  },
};

let applied = 0;
let other = 0;
let lastAppliedAt = 0;
const runner = new ConsumerRunner(
  consumer,
  {
    transport,
    store,
    clock: systemClock,
    ids,
    log,
    breakers: new Breakers(),
    deadLetters: new DeadLetters(store, ids, systemClock),
  },
  {
    onFinished: (f) => {
      if (f.outcome.skipped === undefined && f.outcome.deadLettered === undefined) {
        applied += 1;
        lastAppliedAt = Date.now();
      } else {
        other += 1;
      }
    },
  },
);
await runner.start();

const report = () =>
  process.send?.({ kind: 'report', pid: process.pid, applied, other, lastAppliedAt } satisfies WorkerReport);
const timer = setInterval(report, 500);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  await runner.stop(5000);
  report();
  await transport.close();
  await store.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('disconnect', () => void stop());
