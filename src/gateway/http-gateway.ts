import { Pool } from 'undici';
import type {
  ChargeOutcome,
  ChargeRequest,
  Gateway,
  NotFound,
  RefundOutcome,
  RefundRequest,
  UnknownOutcome,
} from './gateway.ts';

export interface HttpGatewayOptions {
  /** Base URL of the gateway, e.g. the sandbox's `http://127.0.0.1:4100`. */
  url: string;
  /** Longest wait for a connection, for the answer's headers, and between chunks of its body. */
  timeoutMs: number;
  /** Most keep-alive connections to the gateway. */
  connections?: number;
}

/**
 * The gateway refused a request as malformed (a 4xx other than "not found" on a lookup): a bug on
 * our side, never a network condition, so it is thrown rather than reported as `unknown`.
 */
export class GatewayRejectedError extends Error {
  override name = 'GatewayRejectedError';
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

type Exchange = { status: number; text: string } | UnknownOutcome;

const defaultConnections = 64;
/**
 * Answers that say "not now" rather than "no": a timeout, rate limiting, and 409, which a real
 * gateway (Stripe) gives while another request with the same idempotency key is still in flight
 * there. The charge may or may not happen, so each is an unknown outcome for the reconciler.
 */
const transientStatuses = new Set([408, 409, 429]);

/**
 * The Gateway port over the sandbox gateway's HTTP API (Stripe-shaped). Whatever stops a trustworthy
 * answer from arriving (timeout, refused or reset connection, 5xx, a body that is not the expected
 * JSON) becomes `{ status: 'unknown' }`: this adapter never guesses and never throws for those.
 */
export class HttpGateway implements Gateway {
  readonly #pool: Pool;
  readonly #basePath: string;
  readonly #timeoutMs: number;
  #closing: Promise<void> | undefined;

  constructor(options: HttpGatewayOptions) {
    const base = new URL(options.url);
    this.#basePath = base.pathname.replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs;
    this.#pool = new Pool(base.origin, {
      connections: options.connections ?? defaultConnections,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: { timeout: options.timeoutMs },
    });
  }

  async charge(request: ChargeRequest): Promise<ChargeOutcome | UnknownOutcome> {
    const exchange = await this.#send('POST', '/v1/charges', request.idempotencyKey, {
      amount: wireAmount(request.amount),
      currency: request.currency,
      payment_method: request.paymentMethod,
      description: request.description ?? null,
    });
    return interpret('charge', exchange, parseCharge, false);
  }

  async findCharge(idempotencyKey: string): Promise<ChargeOutcome | NotFound | UnknownOutcome> {
    const exchange = await this.#send(
      'GET',
      `/v1/charges?idempotency_key=${encodeURIComponent(idempotencyKey)}`,
    );
    return interpret('findCharge', exchange, parseCharge, true);
  }

  async refund(request: RefundRequest): Promise<RefundOutcome | UnknownOutcome> {
    const exchange = await this.#send('POST', '/v1/refunds', request.idempotencyKey, {
      charge: request.chargeId,
      amount: wireAmount(request.amount),
      currency: request.currency,
    });
    return interpret('refund', exchange, parseRefund, false);
  }

  async findRefund(idempotencyKey: string): Promise<RefundOutcome | NotFound | UnknownOutcome> {
    const exchange = await this.#send(
      'GET',
      `/v1/refunds?idempotency_key=${encodeURIComponent(idempotencyKey)}`,
    );
    return interpret('findRefund', exchange, parseRefund, true);
  }

  /** Waits for requests under way (each bounded by timeoutMs), then closes the connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#pool.close();
    return this.#closing;
  }

  async #send(
    method: 'GET' | 'POST',
    path: string,
    idempotencyKey?: string,
    body?: object,
  ): Promise<Exchange> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      const response = await this.#pool.request({
        method,
        path: this.#basePath + path,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        // undici's own headers/body timeouts tick at a one-second resolution; this deadline is
        // exact and covers the whole exchange, connect to last byte.
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      // Read the whole body even when it will be ignored: that frees the connection for reuse.
      return { status: response.statusCode, text: await response.body.text() };
    } catch (error) {
      return { status: 'unknown', reason: describe(error) };
    }
  }
}

function interpret<T>(
  operation: string,
  exchange: Exchange,
  parse: (json: Record<string, unknown>) => T | null,
  lookup: false,
): T | UnknownOutcome;
function interpret<T>(
  operation: string,
  exchange: Exchange,
  parse: (json: Record<string, unknown>) => T | null,
  lookup: true,
): T | NotFound | UnknownOutcome;
function interpret<T>(
  operation: string,
  exchange: Exchange,
  parse: (json: Record<string, unknown>) => T | null,
  lookup: boolean,
): T | NotFound | UnknownOutcome {
  if (exchange.status === 'unknown') return exchange;
  const { status, text } = exchange;
  if (status >= 500 || transientStatuses.has(status)) {
    return { status: 'unknown', reason: `gateway answered ${status} to ${operation}` };
  }
  const json = parseJson(text);
  if (status === 200) {
    const outcome = json === null ? null : parse(json);
    return outcome ?? { status: 'unknown', reason: `unparsable answer to ${operation}` };
  }
  const error = json !== null && isRecord(json['error']) ? json['error'] : {};
  const code = typeof error['code'] === 'string' ? error['code'] : `http_${status}`;
  // Only the gateway's own "no such object" means not found; a 404 for a wrong URL must not read
  // as "the charge never happened".
  if (lookup && status === 404 && code === 'not_found') return { status: 'not_found' };
  const message = typeof error['message'] === 'string' ? error['message'] : text.slice(0, 200);
  throw new GatewayRejectedError(
    status,
    code,
    `gateway refused ${operation} (${status} ${code}): ${message}`,
  );
}

function parseCharge(json: Record<string, unknown>): ChargeOutcome | null {
  const { id, status, decline_code: declineCode, failure_message: message } = json;
  if (typeof id !== 'string') return null;
  if (status === 'succeeded') return { status, chargeId: id };
  if (status === 'failed' && typeof declineCode === 'string') {
    return { status, chargeId: id, declineCode, message: typeof message === 'string' ? message : '' };
  }
  return null;
}

function parseRefund(json: Record<string, unknown>): RefundOutcome | null {
  const { id, status, failure_reason: reason } = json;
  if (typeof id !== 'string') return null;
  if (status === 'succeeded') return { status, refundId: id };
  if (status === 'failed' && typeof reason === 'string') return { status, refundId: id, reason };
  return null;
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : null;
  } catch {
    return null;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Amounts are bigint in the port and JSON numbers on the wire: refuse any that would lose digits. */
function wireAmount(amount: bigint): number {
  if (amount <= 0n || amount > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`amount out of range for the gateway: ${amount}`);
  }
  return Number(amount);
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${typeof code === 'string' ? code : error.name}: ${error.message}`;
}
