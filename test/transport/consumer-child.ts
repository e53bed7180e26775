import { openFromEnv } from './engines.ts';

/**
 * A consumer in a process of its own, for the contract test that kills one with SIGKILL. It
 * subscribes as GROUP to TOPIC, prints every record it gets as a JSON line, commits only the first
 * COMMIT_COUNT of them, and runs until it is killed.
 */
const env = process.env;
const transport = await openFromEnv(env);
const subscription = await transport.subscribe({
  group: env['GROUP']!,
  topics: [env['TOPIC']!],
  startFrom: 'earliest',
});
const commitCount = Number(env['COMMIT_COUNT']);
let seen = 0;
for await (const record of subscription) {
  seen += 1;
  if (seen <= commitCount) await subscription.commit(record);
  process.stdout.write(
    `${JSON.stringify({ offset: record.offset.toString(), value: record.value, seen })}\n`,
  );
}
