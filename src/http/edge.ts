import http from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, errorCatalogue, PaystreamError } from '../platform/errors.ts';

/**
 * Errors that happen before a route runs, answered in paystream's error shape like every other:
 * Fastify's router refusals (`frameworkErrors`), what Node's HTTP parser rejects (`clientError`),
 * a request without Host or with two, an unmet `Expect`, CONNECT, and a request that reaches a
 * closing server. A client branches on `error.code`, so none of them may answer with another
 * framework's body, or with none.
 */

/** Fastify's `frameworkErrors` option: a malformed percent-encoding, an over-long path parameter. */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const mapped =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new PaystreamError('PAYSTREAM_URI_TOO_LONG', 'A path parameter is longer than any id can be.')
      : new PaystreamError(
          'PAYSTREAM_BAD_REQUEST',
          error.code === 'FST_ERR_BAD_URL'
            ? 'The URL has a malformed percent-encoding.'
            : 'The request could not be routed.',
        );
  void reply.code(mapped.status).send(mapped.toJSON());
}

/** The header names whose line in a raw request breaks HTTP's rules (a control character). */
function malformedHeaderNames(raw: Buffer | undefined): string[] {
  if (!raw) return [];
  const names: string[] = [];
  for (const line of raw.toString('latin1').split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(line.slice(colon + 1)))
      names.push(line.slice(0, colon).trim().toLowerCase());
  }
  return names;
}

function writeRawError(socket: Socket, error: PaystreamError): void {
  const body = JSON.stringify(error.toJSON());
  socket.end(
    `HTTP/1.1 ${error.status} ${http.STATUS_CODES[error.status]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

/**
 * Fastify's `clientErrorHandler`: the request never became one Fastify could route, so the answer
 * is written on the socket, which HTTP then requires us to close (the framing is unknown).
 */
export function clientErrorHandler(connectionError: Error, socket: Socket): void {
  const error = connectionError as Error & { code?: string; rawPacket?: Buffer };
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  let code: ErrorCode = 'PAYSTREAM_BAD_REQUEST';
  let message = 'The request is not valid HTTP/1.1.';
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    code = 'PAYSTREAM_HEADERS_TOO_LARGE';
    message = 'The request headers are larger than the server accepts.';
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || error.code === 'ERR_HTTP_HEADERS_TIMEOUT') {
    code = 'PAYSTREAM_REQUEST_TIMEOUT';
    message = 'The request did not arrive in full in time.';
  } else {
    const bad = malformedHeaderNames(error.rawPacket);
    if (bad.includes('idempotency-key')) {
      code = 'PAYSTREAM_IDEMPOTENCY_KEY_INVALID';
      message = errorCatalogue.PAYSTREAM_IDEMPOTENCY_KEY_INVALID.summary;
    } else if (bad.length > 0) {
      message = `The ${bad[0]} header contains a control character.`;
    }
  }
  writeRawError(socket, new PaystreamError(code, message));
}

/** CONNECT (a proxy tunnel) is no method of this API: 405, not a silently closed connection. */
export function refuseConnect(_request: http.IncomingMessage, socket: Socket): void {
  writeRawError(socket, new PaystreamError('PAYSTREAM_METHOD_NOT_ALLOWED', 'CONNECT is not served here.'));
}

/** Node answers an `Expect` other than 100-continue with an empty 417 of its own. */
export function refuseExpectation(request: http.IncomingMessage, response: http.ServerResponse): void {
  const error = new PaystreamError(
    'PAYSTREAM_EXPECTATION_FAILED',
    `Only "Expect: 100-continue" is supported, not "${request.headers.expect}".`,
  );
  const body = JSON.stringify(error.toJSON());
  response.writeHead(error.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  response.end(body);
}

/**
 * A request can still reach a closing server: pipelined, or on a keep-alive connection that was
 * busy when the server began to close. Fastify's `return503OnClosing` answers it with its own body,
 * so that option is off and this answers the same 503 in paystream's shape (Fastify still marks it
 * `Connection: close`). NOT_READY is the code a load balancer already reads as "try another".
 */
export function refuseWhileClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async () => {
    if (closing) {
      throw new PaystreamError('PAYSTREAM_NOT_READY', 'This process is shutting down; retry the request.');
    }
  });
}

/**
 * HTTP/1.1 requires exactly one Host (RFC 9112, 3.2: a server MUST answer 400 otherwise; two
 * could route one way and be read another). Node's own check answers an empty 400, so it is turned
 * off (`requireHostHeader: false`) and done here instead, in paystream's shape.
 */
export async function requireHost(request: FastifyRequest): Promise<void> {
  if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
    throw new PaystreamError('PAYSTREAM_BAD_REQUEST', 'An HTTP/1.1 request needs a Host header.');
  }
  const raw = request.raw.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'host') hosts += 1;
  if (hosts > 1) {
    throw new PaystreamError(
      'PAYSTREAM_BAD_REQUEST',
      `A request has one Host header; this one has ${hosts}.`,
    );
  }
}
