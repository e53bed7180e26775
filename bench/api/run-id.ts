import { randomBytes } from 'node:crypto';

/** One id per benchmark run: names its databases and idempotency keys, so runs never collide. */
export const runId = randomBytes(4).toString('hex');
