/**
 * The sandbox's test payment methods, named like Stripe's test cards so a payments team already
 * knows them, plus paystream's own for the failures a real network produces: a slow answer, a lost
 * answer and a dropped connection. Those three always CHARGE (and record the charge) first: the
 * point is to exercise "the money moved but we did not hear about it".
 */

/** How the answer to the request that created the charge is delivered. Replays are always immediate. */
export type Delivery =
  /** Answer at once. */
  | 'now'
  /** Answer after the server's `slowMs`. */
  | 'slow'
  /** Hold the answer `holdMs` (longer than any client timeout): the answer is lost. */
  | 'hold'
  /** Destroy the connection without an answer. */
  | 'drop';

export type TestCard =
  | { status: 'succeeded'; delivery: Delivery }
  | { status: 'failed'; declineCode: string; message: string; delivery: Delivery };

const succeeds: TestCard = { status: 'succeeded', delivery: 'now' };

function declined(declineCode: string, message: string): TestCard {
  return { status: 'failed', declineCode, message, delivery: 'now' };
}

/** Card issuers do not tell the payer a card is reported stolen or lost, nor that fraud is suspected. */
const withheldReason = 'Your card was declined.';

export const testCards: ReadonlyMap<string, TestCard> = new Map<string, TestCard>([
  ['pm_card_visa', succeeds],
  ['pm_card_mastercard', succeeds],
  ['pm_card_amex', succeeds],
  ['pm_card_discover', succeeds],
  ['pm_card_visa_debit', succeeds],
  ['pm_card_chargeDeclined', declined('generic_decline', 'Your card was declined.')],
  [
    'pm_card_chargeDeclinedInsufficientFunds',
    declined('insufficient_funds', 'Your card has insufficient funds.'),
  ],
  ['pm_card_chargeDeclinedStolenCard', declined('stolen_card', withheldReason)],
  ['pm_card_chargeDeclinedLostCard', declined('lost_card', withheldReason)],
  ['pm_card_chargeDeclinedFraudulent', declined('fraudulent', withheldReason)],
  ['pm_card_chargeDeclinedExpiredCard', declined('expired_card', 'Your card has expired.')],
  [
    'pm_card_chargeDeclinedIncorrectCvc',
    declined('incorrect_cvc', "Your card's security code is incorrect."),
  ],
  [
    'pm_card_chargeDeclinedProcessingError',
    declined('processing_error', 'An error occurred while processing your card. Try again later.'),
  ],
  ['pm_card_paystream_slow', { status: 'succeeded', delivery: 'slow' }],
  ['pm_card_paystream_timeout', { status: 'succeeded', delivery: 'hold' }],
  ['pm_card_paystream_networkError', { status: 'succeeded', delivery: 'drop' }],
]);

/** The behaviour of a payment method; anything not in the table is declined, never an error. */
export function testCardFor(paymentMethod: string): TestCard {
  return (
    testCards.get(paymentMethod) ??
    declined('invalid_payment_method', `No such payment method: '${paymentMethod}'.`)
  );
}
