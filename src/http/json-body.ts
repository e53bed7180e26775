import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { PaystreamError } from '../platform/errors.ts';

/** A JSON string token followed by a colon: an object key, as written (escapes and all). */
const keyToken = /"(?:[^"\\]|\\[\s\S])*"(?=\s*:)/g;
/** What JSON must keep escaped; a key holding one of these is refused anyway (metadata keys, unknown fields). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const mustStayEscaped = /[\u0000-\u001f"\\]/;

/**
 * V8's JSON.parse in Node 24 reads an object key that ends in an escape (`"\u00e9"`, `"order\/"`,
 * as Python's and PHP's encoders write them) as one ending in a backslash once any earlier parse,
 * of any request, met that key ending in a backslash (nodejs/node#63785): a merchant's metadata
 * key would silently become another. Writing such escapes as the characters they stand for gives
 * the parser no escaped key to misread; the escapes left are for characters no accepted key holds.
 */
export function unescapeKeys(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(keyToken, (token) => {
    if (!token.includes('\\')) return token;
    let key: string;
    try {
      // A lone string is no object key: the bug does not reach it.
      key = JSON.parse(token) as string;
    } catch {
      return token; // the whole body fails to parse anyway
    }
    return mustStayEscaped.test(key) || !key.isWellFormed() ? token : `"${key}"`;
  });
}

/**
 * JSON bodies must be UTF-8 (RFC 8259, 8.1). Fastify's own parser decodes the bytes as UTF-8 and
 * silently turns a malformed sequence into U+FFFD, so a payment would be stored with text its client
 * never sent, and two different bodies could share one idempotency fingerprint. The bytes are
 * checked first; parsing stays Fastify's (with its __proto__ and constructor checks).
 */
export function acceptOnlyUtf8Json(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) {
      done(new PaystreamError('PAYSTREAM_INVALID_JSON', 'The request body is not valid UTF-8.'), undefined);
      return;
    }
    parseJson(request, unescapeKeys(bytes.toString('utf8')), done);
  });
}
