import path from 'node:path';
import { parseArgs } from 'node:util';
import { ApiKeys } from '../admin/api-keys.ts';
import { startSandboxGateway } from '../gateway/sandbox/server.ts';
import { LocalKafkaError } from '../local-kafka/jars.ts';
import { systemClock } from '../platform/clock.ts';
import { ConfigError, loadConfig } from '../platform/config.ts';
import { PaystreamError } from '../platform/errors.ts';
import { IdGenerator } from '../platform/ids.ts';
import { openStore } from '../store/open.ts';
import { deadLettersCommand } from './dead-letters-command.ts';
import { tailEvents } from './events-tail.ts';
import { kafkaCommand } from './kafka-command.ts';
import { lagCommand } from './lag-command.ts';
import { migrationSets } from './migrations.ts';
import { startPaystream } from './paystream.ts';
import { startRelay } from './relay-command.ts';
import { replayCommand } from './replay-command.ts';
import { consumerNames, serviceVariables } from './services.ts';
import { startWorker } from './worker-command.ts';

const USAGE = `Usage: paystream <command>

Commands:
  start                      Run paystream (embedded by default: SQLite + sandbox gateway, no servers):
                             API, reconciler, relay and every service's consumers in one process
                             (--no-consumers: without them, e.g. to run them as workers)
  api                        Run the API (and reconciler) without the relay and the consumers
  relay                      Run the outbox relay alone (any number; one is active)
  worker <consumer...>|--all Run these consumers (any number of processes; they share the work)
  replay <consumer> --from <time|offset> [--to <time|offset>] [--dry-run] [--bypass-inbox] [--json]
                             Run a consumer again over past events (dry run: effects suppressed)
  events tail [--type T] [--customer C]
                             Print events as they reach the event log
  migrate                    Apply pending database migrations and exit
  keys create [--merchant acct_...] [--live] [--name NAME] [--admin]
                             Create a secret API key (printed once); --admin: for /v1/admin only
  keys list                  List API keys (redacted), with their role
  dead-letters list [--consumer C] [--status S] [--type T] [--limit N] | show <id>
  dead-letters redrive <id...>|--consumer C|--all
  dead-letters discard <id...>|--consumer C|--all --reason "..."
                             What consumers gave up on; a redrive hands them to a running worker
  lag                        Each consumer's lag per partition, and its dead letters pending
  keys revoke <key_id>       Revoke a key: it stops working at once
  gateway [--port N]         Run the sandbox gateway alone
  kafka start|stop|status|fetch [--nodes 1|3] [--dir DIR] [--fresh]
                             A local Apache Kafka (KRaft) from Maven Central, no Docker

Configuration comes from PAYSTREAM_* environment variables: see README.md.`;

/**
 * Errors that are the operator's to fix, printed without a stack: invalid input to a command
 * (PaystreamError, the same catalogue the API answers with), a configuration error, and what
 * node:util's parseArgs refuses (an unknown option, a missing value).
 */
export function isOperatorError(error: unknown): boolean {
  if (error instanceof PaystreamError || error instanceof ConfigError || error instanceof LocalKafkaError)
    return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

function fail(message: string): never {
  process.stderr.write(`paystream: ${message}\n`);
  process.exit(2);
}

function onSignal(close: () => Promise<void>): void {
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    close().finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env, serviceVariables);
  } catch (error) {
    if (error instanceof ConfigError) fail(`configuration error: ${error.message}`);
    throw error;
  }

  switch (command) {
    case 'start': {
      const { values } = parseArgs({ args: rest, options: { 'no-consumers': { type: 'boolean' } } });
      const app = await startPaystream(config, values['no-consumers'] ? { consumers: 'none' } : {});
      onSignal(app.close);
      const out = process.stdout;
      out.write(`paystream ${config.mode} mode: API on ${app.url}`);
      out.write(app.sandboxUrl ? `, sandbox gateway on ${app.sandboxUrl}\n` : '\n');
      out.write(
        `store: ${config.databaseUrl ? 'PostgreSQL' : config.sqlitePath}; OpenAPI: ${app.url}/docs\n`,
      );
      if (app.firstKeySecret) {
        out.write(`\nYour first API key (shown once, keep it; \`paystream keys create\` makes more):\n\n`);
        out.write(`  ${app.firstKeySecret}\n\n`);
      }
      return;
    }
    case 'api': {
      const app = await startPaystream(config, { relay: false, consumers: 'none' });
      onSignal(app.close);
      process.stdout.write(`paystream ${config.mode} mode: API on ${app.url} (no relay)\n`);
      return;
    }
    case 'worker': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { all: { type: 'boolean' } },
      });
      if ((values.all ?? false) === positionals.length > 0) {
        fail(`usage: paystream worker <consumer...> | --all (consumers: ${consumerNames().join(', ')})`);
      }
      const worker = await startWorker(config, values.all ? undefined : positionals);
      onSignal(worker.close);
      process.stdout.write(
        `paystream worker: ${worker.consumers.join(', ')}${worker.url ? `; metrics on ${worker.url}/metrics` : ''}\n`,
      );
      return;
    }
    case 'replay':
      await replayCommand(config, rest);
      return;
    case 'relay': {
      const { close, url } = await startRelay(config);
      onSignal(close);
      process.stdout.write(
        `paystream relay: ${config.mode === 'embedded' ? 'embedded log' : 'Kafka'}; metrics on ${url}/metrics\n`,
      );
      return;
    }
    case 'events': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { type: { type: 'string' }, customer: { type: 'string' } },
      });
      if (positionals[0] !== 'tail') fail('usage: paystream events tail [--type T] [--customer C]');
      const stop = new AbortController();
      process.on('SIGINT', () => stop.abort());
      process.on('SIGTERM', () => stop.abort());
      await tailEvents(config, { type: values.type, customer: values.customer }, process.stdout, stop.signal);
      return;
    }
    case 'migrate': {
      const store = openStore(config, migrationSets);
      const applied = await store.migrate();
      await store.close();
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'already up to date\n');
      return;
    }
    case 'keys': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          merchant: { type: 'string' },
          live: { type: 'boolean' },
          name: { type: 'string' },
          admin: { type: 'boolean' },
        },
      });
      const store = openStore(config, migrationSets);
      try {
        await store.migrate();
        const keys = new ApiKeys(store, new IdGenerator(systemClock), systemClock);
        const [action, id] = positionals;
        if (action === 'create') {
          const { key, secret } = await keys.create({
            ...(values.merchant ? { merchantId: values.merchant } : {}),
            livemode: values.live ?? false,
            role: values.admin ? 'admin' : 'merchant',
            ...(values.name ? { name: values.name } : {}),
          });
          process.stdout.write(`${secret}\n`);
          process.stderr.write(
            key.role === 'admin'
              ? `created admin key ${key.id}: it reaches /v1/admin only (the secret is shown only now)\n`
              : `created ${key.id} for merchant ${key.merchantId} (the secret is shown only now)\n`,
          );
        } else if (action === 'list') {
          for (const k of await keys.list()) {
            const state = k.revokedAt === null ? 'active' : `revoked ${new Date(k.revokedAt).toISOString()}`;
            process.stdout.write(
              `${k.id}  ${k.merchantId}  ${k.redacted}  ${state}  ${k.role}  ${k.name ?? ''}\n`,
            );
          }
        } else if (action === 'revoke' && id) {
          if (!(await keys.revoke(id))) fail(`no active key ${id}`);
          process.stdout.write(`revoked ${id}\n`);
        } else {
          fail(`usage: paystream keys create|list|revoke <key_id>`);
        }
      } finally {
        await store.close();
      }
      return;
    }
    case 'gateway': {
      const { values } = parseArgs({ args: rest, options: { port: { type: 'string' } } });
      const port = values.port === undefined ? config.gatewayPort : Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) fail(`--port must be a port number`);
      const sandbox = await startSandboxGateway({
        file: path.join(config.dataDir, 'sandbox-gateway.sqlite'),
        host: config.host,
        port,
      });
      onSignal(sandbox.close);
      process.stdout.write(`sandbox gateway on ${sandbox.url}\n`);
      return;
    }
    case 'dead-letters':
      await deadLettersCommand(config, rest, process.stdout);
      return;
    case 'lag':
      await lagCommand(config, process.stdout);
      return;
    case 'kafka':
      await kafkaCommand(rest);
      return;
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      fail(`unknown command "${command}"\n\n${USAGE}`);
  }
}
