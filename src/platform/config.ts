import path from 'node:path';

/**
 * Every setting comes from a `PAYSTREAM_*` environment variable, validated once at start. The
 * defaults are the embedded mode: SQLite under ./data and the sandbox gateway in the same process.
 */
export interface Config {
  /** `embedded` when no database URL is set (SQLite), `distributed` with PostgreSQL. */
  mode: 'embedded' | 'distributed';
  dataDir: string;
  /** postgres://... in distributed mode; undefined in embedded mode. */
  databaseUrl: string | undefined;
  /** Path of the SQLite file in embedded mode. */
  sqlitePath: string;
  databasePoolMax: number;
  databaseBatchMax: number;
  host: string;
  port: number;
  /** Port of `paystream worker`'s /metrics and /health (0: any free port, printed at start). */
  workerPort: number;
  /** Consumers' retry backoff: the first wait's ceiling, doubling up to the max. */
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  /** Base URL of an external gateway; undefined: run the sandbox gateway in this process. */
  gatewayUrl: string | undefined;
  gatewayPort: number;
  gatewayTimeoutMs: number;
  /** A payment or refund still `processing` after this long is asked about at the gateway. */
  reconcileAfterMs: number;
  reconcileIntervalMs: number;
  idempotencyRetentionHours: number;
  /** How long published events stay listed by the events API. */
  eventRetentionDays: number;
  /** After a round that found fewer events than a full batch, the time from its start to the next round's. */
  relayLingerMs: number;
  bodyLimitBytes: number;
  logLevel: string;
  /** Kafka bootstrap brokers (host:port); empty: no Kafka (the embedded log, or events stay in the outbox). */
  kafkaBrokers: string[];
  kafkaPartitions: number;
  kafkaReplicationFactor: number;
  kafkaMinInsyncReplicas: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface VariableDoc {
  name: string;
  default: string;
  description: string;
}

/** The configuration table, also rendered in the README (a test keeps them in step). */
export const configVariables: readonly VariableDoc[] = [
  { name: 'PAYSTREAM_DATA_DIR', default: './data', description: 'Where the embedded mode keeps its files.' },
  {
    name: 'PAYSTREAM_DATABASE_URL',
    default: '(unset: SQLite)',
    description: 'postgres://user@host:port/db switches the store to PostgreSQL.',
  },
  { name: 'PAYSTREAM_DATABASE_POOL_MAX', default: '10', description: 'PostgreSQL connections per process.' },
  {
    name: 'PAYSTREAM_DATABASE_BATCH_MAX',
    default: '64',
    description:
      'PostgreSQL: most concurrent payments whose writes share one statement (group commit); 1 sends each alone.',
  },
  { name: 'PAYSTREAM_HOST', default: '127.0.0.1', description: 'Address the HTTP API listens on.' },
  { name: 'PAYSTREAM_PORT', default: '3000', description: 'Port of the HTTP API.' },
  {
    name: 'PAYSTREAM_WORKER_PORT',
    default: '0',
    description:
      'Port of the /metrics and /health of `paystream worker` and `paystream relay` (0: any free port, printed at start).',
  },
  {
    name: 'PAYSTREAM_GATEWAY_URL',
    default: '(unset: sandbox)',
    description: 'Base URL of the gateway; unset starts the sandbox gateway in-process.',
  },
  { name: 'PAYSTREAM_GATEWAY_PORT', default: '3001', description: 'Port of the in-process sandbox gateway.' },
  {
    name: 'PAYSTREAM_GATEWAY_TIMEOUT_MS',
    default: '10000',
    description: 'After this long without an answer a payment stays `processing`.',
  },
  {
    name: 'PAYSTREAM_RECONCILE_AFTER_MS',
    default: '30000',
    description: 'Age at which a `processing` payment or `pending` refund is settled by asking the gateway.',
  },
  {
    name: 'PAYSTREAM_RECONCILE_INTERVAL_MS',
    default: '10000',
    description: 'How often the reconciler runs.',
  },
  {
    name: 'PAYSTREAM_IDEMPOTENCY_RETENTION_HOURS',
    default: '24',
    description: 'How long Idempotency-Key records are kept (at least 24).',
  },
  {
    name: 'PAYSTREAM_EVENT_RETENTION_DAYS',
    default: '30',
    description: 'How long published events stay listed by GET /v1/events (1 to 3650).',
  },
  {
    name: 'PAYSTREAM_RELAY_LINGER_MS',
    default: '20',
    description:
      'After a round that found less than a full batch, the relay starts the next one this long after the last one started: longer, fewer and bigger requests (less CPU); shorter, lower latency.',
  },
  { name: 'PAYSTREAM_BODY_LIMIT_BYTES', default: '65536', description: 'Largest accepted request body.' },
  {
    name: 'PAYSTREAM_LOG_LEVEL',
    default: 'info',
    description: 'pino level: fatal, error, warn, info, debug, trace or silent.',
  },
  {
    name: 'PAYSTREAM_RETRY_BASE_DELAY_MS',
    default: '200',
    description: 'Consumers: ceiling of the first retry’s wait (full jitter), doubling at each retry.',
  },
  {
    name: 'PAYSTREAM_RETRY_MAX_DELAY_MS',
    default: '30000',
    description: 'Consumers: the longest wait between two attempts.',
  },
  {
    name: 'PAYSTREAM_KAFKA_BROKERS',
    default: '(unset: no Kafka)',
    description: 'host:port,... of Kafka brokers: the relay publishes events there (with PostgreSQL).',
  },
  {
    name: 'PAYSTREAM_KAFKA_PARTITIONS',
    default: '6',
    description: 'Partitions of the topics paystream creates: the most consumers of one group at work.',
  },
  {
    name: 'PAYSTREAM_KAFKA_REPLICATION_FACTOR',
    default: '1',
    description: 'Copies of each partition (3 on a 3-broker cluster).',
  },
  {
    name: 'PAYSTREAM_KAFKA_MIN_INSYNC_REPLICAS',
    default: '1',
    description: 'Copies an acks=all write needs (2 with a replication factor of 3).',
  },
];

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max} (got "${raw}")`);
  }
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max} (got ${value})`);
  }
  return value;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL (got "${raw}")`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.join(' or ')}// (got "${raw}")`);
  }
  return raw;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * The configuration from `env`. `serviceVariables` are the settings the services declare (each
 * reads its own, e.g. PAYSTREAM_SMTP_URL): known here so that a misspelt one is still refused.
 */
export function loadConfig(env: Env = process.env, serviceVariables: readonly VariableDoc[] = []): Config {
  const known = new Set([...configVariables, ...serviceVariables].map((v) => v.name));
  for (const name of Object.keys(env)) {
    if (name.startsWith('PAYSTREAM_') && !known.has(name) && !name.startsWith('PAYSTREAM_TEST_')) {
      if (!name.startsWith('PAYSTREAM_FAULT_')) {
        throw new ConfigError(`${name} is not a paystream setting (known: ${[...known].join(', ')})`);
      }
    }
  }
  const dataDir = path.resolve(env['PAYSTREAM_DATA_DIR'] || './data');
  const databaseUrl = url(env, 'PAYSTREAM_DATABASE_URL', ['postgres:', 'postgresql:']);
  const gatewayTimeoutMs = integer(env, 'PAYSTREAM_GATEWAY_TIMEOUT_MS', 10_000, 100, 600_000);
  const reconcileAfterMs = integer(env, 'PAYSTREAM_RECONCILE_AFTER_MS', 30_000, 100, 86_400_000);
  if (reconcileAfterMs <= gatewayTimeoutMs) {
    throw new ConfigError(
      `PAYSTREAM_RECONCILE_AFTER_MS (${reconcileAfterMs}) must be longer than PAYSTREAM_GATEWAY_TIMEOUT_MS ` +
        `(${gatewayTimeoutMs}), or the reconciler would race requests still waiting on the gateway`,
    );
  }
  const logLevel = env['PAYSTREAM_LOG_LEVEL'] || 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`PAYSTREAM_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  }
  const kafkaBrokers = (env['PAYSTREAM_KAFKA_BROKERS'] ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  for (const broker of kafkaBrokers) {
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(broker)) {
      throw new ConfigError(`PAYSTREAM_KAFKA_BROKERS must be host:port,... (got "${broker}")`);
    }
  }
  if (kafkaBrokers.length > 0 && !databaseUrl) {
    throw new ConfigError(
      'PAYSTREAM_KAFKA_BROKERS needs PAYSTREAM_DATABASE_URL: the embedded mode (SQLite) keeps its own event log',
    );
  }
  const kafkaReplicationFactor = integer(env, 'PAYSTREAM_KAFKA_REPLICATION_FACTOR', 1, 1, 10);
  const kafkaMinInsyncReplicas = integer(env, 'PAYSTREAM_KAFKA_MIN_INSYNC_REPLICAS', 1, 1, 10);
  if (kafkaMinInsyncReplicas > kafkaReplicationFactor) {
    throw new ConfigError(
      `PAYSTREAM_KAFKA_MIN_INSYNC_REPLICAS (${kafkaMinInsyncReplicas}) cannot exceed PAYSTREAM_KAFKA_REPLICATION_FACTOR (${kafkaReplicationFactor})`,
    );
  }
  return {
    kafkaBrokers,
    kafkaPartitions: integer(env, 'PAYSTREAM_KAFKA_PARTITIONS', 6, 1, 1000),
    kafkaReplicationFactor,
    kafkaMinInsyncReplicas,
    mode: databaseUrl ? 'distributed' : 'embedded',
    dataDir,
    databaseUrl,
    sqlitePath: path.join(dataDir, 'paystream.sqlite'),
    databasePoolMax: integer(env, 'PAYSTREAM_DATABASE_POOL_MAX', 10, 1, 1000),
    databaseBatchMax: integer(env, 'PAYSTREAM_DATABASE_BATCH_MAX', 64, 1, 1000),
    host: env['PAYSTREAM_HOST'] || '127.0.0.1',
    port: integer(env, 'PAYSTREAM_PORT', 3000, 0, 65_535),
    workerPort: integer(env, 'PAYSTREAM_WORKER_PORT', 0, 0, 65_535),
    retryBaseDelayMs: integer(env, 'PAYSTREAM_RETRY_BASE_DELAY_MS', 200, 1, 3_600_000),
    retryMaxDelayMs: integer(env, 'PAYSTREAM_RETRY_MAX_DELAY_MS', 30_000, 1, 86_400_000),
    gatewayUrl: url(env, 'PAYSTREAM_GATEWAY_URL', ['http:', 'https:']),
    gatewayPort: integer(env, 'PAYSTREAM_GATEWAY_PORT', 3001, 0, 65_535),
    gatewayTimeoutMs,
    reconcileAfterMs,
    reconcileIntervalMs: integer(env, 'PAYSTREAM_RECONCILE_INTERVAL_MS', 10_000, 10, 86_400_000),
    idempotencyRetentionHours: integer(env, 'PAYSTREAM_IDEMPOTENCY_RETENTION_HOURS', 24, 24, 24 * 365),
    eventRetentionDays: integer(env, 'PAYSTREAM_EVENT_RETENTION_DAYS', 30, 1, 3650),
    relayLingerMs: integer(env, 'PAYSTREAM_RELAY_LINGER_MS', 20, 1, 10_000),
    bodyLimitBytes: integer(env, 'PAYSTREAM_BODY_LIMIT_BYTES', 65_536, 1024, 10_485_760),
    logLevel,
  };
}
