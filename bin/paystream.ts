#!/usr/bin/env node
import { isOperatorError, main } from '../src/app/cli.ts';

main(process.argv.slice(2)).catch((error: unknown) => {
  // An operator's mistake (a bad flag, a malformed id) gets its message; a fault of ours, its stack.
  if (isOperatorError(error)) {
    process.stderr.write(`paystream: ${(error as Error).message}\n`);
    process.exit(2);
  }
  process.stderr.write(
    `paystream: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
