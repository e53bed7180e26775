/**
 * The closed catalogue of error codes a client can see. Each code has one HTTP status, forever:
 * clients branch on `error.code`. docs/errors.md lists every code (a test checks it).
 */
export const errorCatalogue = {
  PAYSTREAM_VALIDATION: {
    status: 400,
    summary: 'A parameter is missing, mistyped or out of range; `param` names it.',
  },
  PAYSTREAM_INVALID_JSON: { status: 400, summary: 'The request body is not valid JSON.' },
  PAYSTREAM_BAD_REQUEST: {
    status: 400,
    summary: 'The request is malformed at the HTTP level (headers, framing).',
  },
  PAYSTREAM_IDEMPOTENCY_KEY_REQUIRED: {
    status: 400,
    summary: 'A POST was sent without an Idempotency-Key header.',
  },
  PAYSTREAM_IDEMPOTENCY_KEY_INVALID: {
    status: 400,
    summary: 'The Idempotency-Key is empty, longer than 255 characters or not printable ASCII.',
  },
  PAYSTREAM_UNAUTHORIZED: { status: 401, summary: 'The secret key is missing, unknown or revoked.' },
  PAYSTREAM_FORBIDDEN: {
    status: 403,
    summary:
      'The key is valid but its role may not use this route: /v1/admin needs an admin key, and an admin key reaches nothing else.',
  },
  PAYSTREAM_METHOD_NOT_ALLOWED: {
    status: 405,
    summary: 'The HTTP method is not served (CONNECT, for example).',
  },
  PAYSTREAM_REQUEST_TIMEOUT: { status: 408, summary: 'The request did not arrive in full in time.' },
  PAYSTREAM_NOT_FOUND: { status: 404, summary: 'No such object (for this merchant) or no such route.' },
  PAYSTREAM_IDEMPOTENCY_IN_FLIGHT: {
    status: 409,
    summary: 'A request with this Idempotency-Key is still being processed; retry later.',
  },
  PAYSTREAM_PAYMENT_NOT_REFUNDABLE: { status: 409, summary: 'Only a succeeded payment can be refunded.' },
  PAYSTREAM_REFUND_AMOUNT_TOO_LARGE: {
    status: 400,
    summary: 'The refund is larger than what is left to refund on the payment.',
  },
  PAYSTREAM_BODY_TOO_LARGE: { status: 413, summary: 'The request body is larger than the configured limit.' },
  PAYSTREAM_URI_TOO_LONG: { status: 414, summary: 'A path parameter is longer than any id can be.' },
  PAYSTREAM_UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'The body must be application/json.' },
  PAYSTREAM_EXPECTATION_FAILED: {
    status: 417,
    summary: 'The request has an Expect header other than 100-continue.',
  },
  PAYSTREAM_IDEMPOTENCY_MISMATCH: {
    status: 422,
    summary: 'This Idempotency-Key was used with a different request (method, path or body).',
  },
  PAYSTREAM_HEADERS_TOO_LARGE: {
    status: 431,
    summary: 'The request headers are larger than the server accepts.',
  },
  PAYSTREAM_NOT_READY: {
    status: 503,
    summary: 'The store is unreachable, its migrations are not applied, or the process is shutting down.',
  },
  PAYSTREAM_INTERNAL: {
    status: 500,
    summary: 'A fault on our side; the request may be retried with the same key.',
  },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

/** An error meant for the client: it carries a catalogue code, and optionally the faulty parameter. */
export class PaystreamError extends Error {
  override name = 'PaystreamError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly param: string | undefined;

  constructor(code: ErrorCode, message: string, param?: string) {
    super(message);
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.param = param;
  }

  toJSON(): { error: { code: ErrorCode; message: string; param?: string } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.param === undefined ? {} : { param: this.param }),
      },
    };
  }
}
