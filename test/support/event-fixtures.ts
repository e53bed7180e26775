import type { NewEvent } from '../../src/events/outbox.ts';
import type { IdGenerator } from '../../src/platform/ids.ts';

export const fixtureMerchant = `acct_${'0'.repeat(26)}`;

/** A valid payment.succeeded for `customer` of the fixture merchant; `amount` may carry a sequence. */
export function paymentSucceededEvent(ids: IdGenerator, customer: string, amount: number): NewEvent {
  const paymentId = ids.resource('pay');
  return {
    type: 'payment.succeeded',
    subject: paymentId,
    partitionKey: `${fixtureMerchant}/${customer}`,
    data: {
      payment_id: paymentId,
      merchant_id: fixtureMerchant,
      customer_id: customer,
      amount,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      description: null,
      metadata: {},
      livemode: false,
      created: 1,
      gateway_charge_id: `ch_${amount}`,
      receipt_email: null,
      statement_descriptor: null,
    },
  };
}
