/**
 * An error the sandbox answers with, in the processor's own shape
 * (`{ error: { code, message, param? } }`). The codes are the sandbox's, lower case like a card
 * processor's, and deliberately not paystream's PAYSTREAM_* catalogue: the sandbox plays an
 * outside system.
 */
export class SandboxApiError extends Error {
  override name = 'SandboxApiError';
  readonly status: number;
  readonly code: string;
  readonly param: string | undefined;

  constructor(status: number, code: string, message: string, param?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }

  toJSON(): { error: { code: string; message: string; param?: string } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.param === undefined ? {} : { param: this.param }),
      },
    };
  }
}

export function idempotencyMismatch(key: string): SandboxApiError {
  return new SandboxApiError(
    422,
    'idempotency_mismatch',
    `Idempotency-Key '${key}' was already used with different parameters.`,
  );
}
