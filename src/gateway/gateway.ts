/**
 * The Gateway port: what the payment core needs from a card processor. Every call carries an
 * idempotency key; a gateway must return the first result for a repeated key and never charge or
 * refund twice. When an answer is lost (timeout, reset connection, 5xx) the outcome is `unknown`:
 * the caller must not guess, it asks later with `findCharge` / `findRefund`.
 *
 * A real processor's adapter implements this interface (see docs/gateway.md); the sandbox gateway
 * (./sandbox) and its HTTP adapter (./http-gateway.ts) are the implementation shipped here.
 */
export interface Gateway {
  charge(request: ChargeRequest): Promise<ChargeOutcome | UnknownOutcome>;
  findCharge(idempotencyKey: string): Promise<ChargeOutcome | NotFound | UnknownOutcome>;
  refund(request: RefundRequest): Promise<RefundOutcome | UnknownOutcome>;
  findRefund(idempotencyKey: string): Promise<RefundOutcome | NotFound | UnknownOutcome>;
  close(): Promise<void>;
}

export interface ChargeRequest {
  idempotencyKey: string;
  /** Minor units. */
  amount: bigint;
  /** ISO 4217, lower case. */
  currency: string;
  paymentMethod: string;
  description?: string | null;
}

export type ChargeOutcome =
  | { status: 'succeeded'; chargeId: string }
  | { status: 'failed'; chargeId: string; declineCode: string; message: string };

export interface RefundRequest {
  idempotencyKey: string;
  chargeId: string;
  amount: bigint;
  currency: string;
}

export type RefundOutcome =
  | { status: 'succeeded'; refundId: string }
  | { status: 'failed'; refundId: string; reason: string };

export interface NotFound {
  status: 'not_found';
}

/** No answer we can trust: the operation may or may not have happened. */
export interface UnknownOutcome {
  status: 'unknown';
  reason: string;
}
