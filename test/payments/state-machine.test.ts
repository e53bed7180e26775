import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertPaymentTransition,
  assertRefundTransition,
  InvalidTransitionError,
  type PaymentStatus,
  type RefundStatus,
} from '../../src/payments/payment.ts';

test('a payment only goes processing -> succeeded | failed', () => {
  const all: PaymentStatus[] = ['processing', 'succeeded', 'failed'];
  for (const from of all) {
    for (const to of all) {
      const allowed = from === 'processing' && to !== 'processing';
      if (allowed) assert.doesNotThrow(() => assertPaymentTransition('pay_x', from, to));
      else
        assert.throws(
          () => assertPaymentTransition('pay_x', from, to),
          InvalidTransitionError,
          `${from}->${to}`,
        );
    }
  }
});

test('a refund only goes pending -> succeeded | failed', () => {
  const all: RefundStatus[] = ['pending', 'succeeded', 'failed'];
  for (const from of all) {
    for (const to of all) {
      const allowed = from === 'pending' && to !== 'pending';
      if (allowed) assert.doesNotThrow(() => assertRefundTransition('re_x', from, to));
      else
        assert.throws(
          () => assertRefundTransition('re_x', from, to),
          InvalidTransitionError,
          `${from}->${to}`,
        );
    }
  }
});
