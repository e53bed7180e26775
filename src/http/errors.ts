import type { FastifyError, FastifyInstance } from 'fastify';
import { type ErrorCode, errorCatalogue, PaystreamError } from '../platform/errors.ts';

interface AjvIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** `/metadata/order` -> `metadata[order]`, Stripe's way of naming a nested parameter. */
function paramName(issue: AjvIssue): string | undefined {
  const extra = issue.params?.['additionalProperty'] ?? issue.params?.['missingProperty'];
  const parts = (issue.instancePath ?? '').split('/').filter(Boolean);
  if (typeof extra === 'string') parts.push(extra);
  if (parts.length === 0) return undefined;
  return (
    parts[0] +
    parts
      .slice(1)
      .map((p) => `[${p}]`)
      .join('')
  );
}

function validationError(error: FastifyError): PaystreamError {
  const issue = (error.validation?.[0] ?? {}) as AjvIssue;
  const param = paramName(issue);
  const where = error.validationContext === 'querystring' ? 'query parameter' : 'parameter';
  let message: string;
  if (issue.keyword === 'additionalProperties') message = `Unknown ${where}: ${param}`;
  else if (issue.keyword === 'required') message = `Missing required ${where}: ${param}`;
  else if (param === undefined)
    message = `The request ${error.validationContext ?? 'body'} ${issue.message ?? 'is invalid'}`;
  else message = `Invalid ${where} ${param}: ${issue.message ?? 'is invalid'}`;
  return new PaystreamError('PAYSTREAM_VALIDATION', message, param);
}

/** Maps Fastify's own errors onto the catalogue. Unknown 4xx stay 4xx; nothing a client sends becomes a 5xx. */
function fromFastify(error: FastifyError): PaystreamError | undefined {
  if (error.validation) return validationError(error);
  const byCode: Partial<Record<string, [ErrorCode, string]>> = {
    FST_ERR_CTP_BODY_TOO_LARGE: ['PAYSTREAM_BODY_TOO_LARGE', 'The request body is too large.'],
    FST_ERR_CTP_INVALID_MEDIA_TYPE: [
      'PAYSTREAM_UNSUPPORTED_MEDIA_TYPE',
      'Send the body as application/json.',
    ],
    FST_ERR_CTP_EMPTY_JSON_BODY: ['PAYSTREAM_INVALID_JSON', 'The body is empty but its type says JSON.'],
    FST_ERR_CTP_INVALID_JSON_BODY: ['PAYSTREAM_INVALID_JSON', 'The request body is not valid JSON.'],
  };
  const known = error.code ? byCode[error.code] : undefined;
  if (known) return new PaystreamError(known[0], known[1]);
  const status = error.statusCode ?? 500;
  if (error instanceof SyntaxError || (status === 400 && /JSON/i.test(error.message))) {
    return new PaystreamError('PAYSTREAM_INVALID_JSON', 'The request body is not valid JSON.');
  }
  if (status === 413) return new PaystreamError('PAYSTREAM_BODY_TOO_LARGE', 'The request body is too large.');
  if (status === 415)
    return new PaystreamError('PAYSTREAM_UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.');
  if (status >= 400 && status < 500) return new PaystreamError('PAYSTREAM_BAD_REQUEST', error.message);
  return undefined;
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const mapped = error instanceof PaystreamError ? error : fromFastify(error);
    if (mapped) {
      return reply.code(mapped.status).send(mapped.toJSON());
    }
    request.log.error({ err: error }, 'unhandled error');
    const internal = new PaystreamError(
      'PAYSTREAM_INTERNAL',
      'Something went wrong on our side. Retrying with the same Idempotency-Key is safe.',
    );
    return reply.code(errorCatalogue.PAYSTREAM_INTERNAL.status).send(internal.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new PaystreamError(
      'PAYSTREAM_NOT_FOUND',
      `No route ${request.method} ${request.url.split('?')[0]}`,
    );
    return reply.code(404).send(error.toJSON());
  });
}
