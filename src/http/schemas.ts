/** JSON schemas shared by every route: the error object and list envelopes. */
export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'Stable error code, see docs/errors.md' },
        message: { type: 'string' },
        param: { type: 'string', description: 'The parameter at fault, when there is one' },
      },
    },
  },
} as const;

export const errorResponses = {
  400: { $ref: 'Error#' },
  401: { $ref: 'Error#' },
  404: { $ref: 'Error#' },
  409: { $ref: 'Error#' },
  413: { $ref: 'Error#' },
  415: { $ref: 'Error#' },
  422: { $ref: 'Error#' },
  500: { $ref: 'Error#' },
} as const;

export function listSchema(item: object) {
  return {
    type: 'object',
    required: ['object', 'data', 'has_more'],
    properties: {
      object: { type: 'string', enum: ['list'] },
      data: { type: 'array', items: item },
      has_more: { type: 'boolean' },
    },
  } as const;
}

export const idempotencyKeyHeader = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      description: 'Required on every POST: a retry with it never acts twice.',
    },
  },
} as const;
