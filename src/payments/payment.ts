/** A payment and its state machine: `processing -> succeeded | failed`, nothing else. */
export type PaymentStatus = 'processing' | 'succeeded' | 'failed';

export interface Payment {
  id: string;
  merchantId: string;
  livemode: boolean;
  customerId: string;
  amount: bigint;
  currency: string;
  paymentMethod: string;
  description: string | null;
  metadata: Record<string, string>;
  /** Where the customer's receipt goes (Stripe's `receipt_email`); null: no receipt is sent. */
  receiptEmail: string | null;
  /** The merchant's name as the customer should read it on the receipt (Stripe's field). */
  statementDescriptor: string | null;
  status: PaymentStatus;
  failureCode: string | null;
  failureMessage: string | null;
  gatewayChargeId: string | null;
  amountRefunded: bigint;
  amountRefundReserved: bigint;
  createdAt: number;
  updatedAt: number;
}

/** What a client asks for; the rest of a Payment is ours. The receipt fields are optional (null). */
export type NewPayment = Pick<
  Payment,
  'customerId' | 'amount' | 'currency' | 'paymentMethod' | 'description' | 'metadata'
> &
  Partial<Pick<Payment, 'receiptEmail' | 'statementDescriptor'>>;

/** A payment as it is first recorded: `processing`, nothing refunded, before the gateway is asked. */
export function newProcessingPayment(
  id: string,
  owner: { merchantId: string; livemode: boolean },
  input: NewPayment,
  now: number,
): Payment {
  return {
    id,
    merchantId: owner.merchantId,
    livemode: owner.livemode,
    ...input,
    receiptEmail: input.receiptEmail ?? null,
    statementDescriptor: input.statementDescriptor ?? null,
    status: 'processing',
    failureCode: null,
    failureMessage: null,
    gatewayChargeId: null,
    amountRefunded: 0n,
    amountRefundReserved: 0n,
    createdAt: now,
    updatedAt: now,
  };
}

const paymentTransitions: Record<PaymentStatus, readonly PaymentStatus[]> = {
  processing: ['succeeded', 'failed'],
  succeeded: [],
  failed: [],
};

/** Thrown when code tries a transition the state machine forbids: a bug, never a client error. */
export class InvalidTransitionError extends Error {
  override name = 'InvalidTransitionError';
}

export function assertPaymentTransition(id: string, from: PaymentStatus, to: PaymentStatus): void {
  if (!paymentTransitions[from].includes(to)) {
    throw new InvalidTransitionError(`payment ${id}: ${from} -> ${to} is not a valid transition`);
  }
}

/** A refund: `pending -> succeeded | failed`. */
export type RefundStatus = 'pending' | 'succeeded' | 'failed';

export interface Refund {
  id: string;
  paymentId: string;
  merchantId: string;
  amount: bigint;
  currency: string;
  reason: string | null;
  metadata: Record<string, string>;
  status: RefundStatus;
  failureReason: string | null;
  gatewayRefundId: string | null;
  createdAt: number;
  updatedAt: number;
}

const refundTransitions: Record<RefundStatus, readonly RefundStatus[]> = {
  pending: ['succeeded', 'failed'],
  succeeded: [],
  failed: [],
};

export function assertRefundTransition(id: string, from: RefundStatus, to: RefundStatus): void {
  if (!refundTransitions[from].includes(to)) {
    throw new InvalidTransitionError(`refund ${id}: ${from} -> ${to} is not a valid transition`);
  }
}
