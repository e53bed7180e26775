#!/usr/bin/env node
import { main } from '../src/app/cli.ts';

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(
    `paystream: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
