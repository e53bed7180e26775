import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readEvent } from '../../../src/events/catalogue.ts';
import { currencyCodes, currencyExponent } from '../../../src/payments/currencies.ts';
import { decimalOf, formatAmount, minorUnitExponent } from '../../../src/services/receipts/money.ts';
import { escapeHtml, receiptMessageId, renderReceipt } from '../../../src/services/receipts/render.ts';
import { asV1, merchantA, paymentSucceeded, refundSucceeded } from './support.ts';

const nbsp = '\u00a0';

test('amounts: two-decimal, zero-decimal (JPY) and three-decimal (KWD) currencies, exactly', () => {
  assert.equal(formatAmount(2500, 'usd', 'en-US'), '$25.00');
  assert.equal(formatAmount(5, 'usd', 'en-US'), '$0.05');
  assert.equal(formatAmount(500, 'jpy', 'en-US'), '¥500');
  assert.equal(formatAmount(500, 'jpy', 'ja-JP'), '￥500');
  assert.equal(formatAmount(1500, 'kwd', 'en-US'), `KWD${nbsp}1.500`);
  assert.equal(formatAmount(1, 'kwd', 'en-US'), `KWD${nbsp}0.001`);
  assert.equal(formatAmount(2500, 'eur', 'de-DE'), `25,00${nbsp}€`);
  assert.equal(formatAmount(123456789, 'eur', 'fr-FR'), `1\u202f234\u202f567,89${nbsp}€`);
  // The largest payment paystream takes, with no float in between to lose a cent.
  assert.equal(formatAmount(999_999_999_999, 'usd', 'en-US'), '$9,999,999,999.99');
  assert.equal(decimalOf(999_999_999_999n, 'kwd'), '999999999.999');
});

test("amounts use ISO 4217's minor unit, not CLDR's display digits: 10.50 HUF is not rounded to 11", () => {
  assert.equal(formatAmount(1050, 'huf', 'en-US'), `HUF${nbsp}10.50`);
  assert.equal(formatAmount(1500, 'iqd', 'en-US'), `IQD${nbsp}1.500`);
});

test("the receipts service's minor units agree with the payment core's table, for every currency", () => {
  for (const code of currencyCodes) {
    assert.equal(minorUnitExponent(code), currencyExponent(code), code);
  }
});

test('a payment receipt: amount, date, merchant descriptor, payment id, description', () => {
  const event = paymentSucceeded({ amount: 2500, currency: 'usd' });
  const receipt = renderReceipt(readEvent(event), 'en-US');
  const data = event.data as Record<string, string>;
  assert.equal(receipt.kind, 'payment');
  assert.equal(receipt.recipient, 'ada@example.com');
  assert.equal(receipt.subject, 'Your receipt from ADA MUGS: $25.00');
  for (const part of [receipt.text, receipt.html]) {
    assert.match(part, /Receipt from ADA MUGS/);
    assert.match(part, /\$25\.00/);
    assert.match(part, /November 24, 2026 at 8:18\s?PM UTC/);
    assert.ok(part.includes(data['payment_id']!), 'the payment id');
    assert.match(part, /Blue mug/);
    assert.doesNotMatch(part, /refund/i);
  }
  assert.match(receipt.text, /^Amount paid: +\$25\.00$/m);
});

test('a refund receipt: the refunded amount and the payment it belongs to', () => {
  const event = refundSucceeded({
    amount: 300,
    currency: 'jpy',
    payment_amount: 1000,
    payment_amount_refunded: 700,
  });
  const data = event.data as Record<string, string>;
  const receipt = renderReceipt(readEvent(event), 'en-US');
  assert.equal(receipt.kind, 'refund');
  assert.equal(receipt.refundId, data['refund_id']);
  assert.equal(receipt.paymentId, data['payment_id']);
  assert.equal(receipt.subject, 'Your refund from ADA MUGS: ¥300');
  for (const part of [receipt.text, receipt.html]) {
    assert.match(part, /Refund from ADA MUGS/);
    assert.ok(part.includes(data['refund_id']!), 'the refund id');
    assert.ok(part.includes(data['payment_id']!), 'the payment it belongs to');
    assert.match(part, /¥300/);
    assert.match(part, /¥1,000/, 'the payment amount');
    assert.match(part, /¥700/, 'refunded in total');
  }
  assert.match(receipt.text, /^Amount refunded: +¥300$/m);
  assert.match(receipt.text, /^Refund of payment: +pay_/m);
});

test('HTML escapes everything a client or merchant wrote; the text part keeps it as written', () => {
  const event = paymentSucceeded({
    description: '<script>alert("x")</script> & <b>mugs</b>',
    statement_descriptor: "A&B <MUGS> 'co'",
  });
  const receipt = renderReceipt(readEvent(event), 'en-US');
  assert.doesNotMatch(receipt.html, /<script>|<b>mugs|<MUGS>|A&B/);
  assert.ok(
    receipt.html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;mugs&lt;/b&gt;'),
  );
  assert.ok(receipt.html.includes('A&amp;B &lt;MUGS&gt; &#39;co&#39;'));
  assert.ok(receipt.text.includes('<script>alert("x")</script> & <b>mugs</b>'));
  assert.equal(escapeHtml(`<>&"'`), '&lt;&gt;&amp;&quot;&#39;');
});

test('a line break in a descriptor never reaches the subject (no header injection)', () => {
  const event = paymentSucceeded({ statement_descriptor: 'MUGS\r\nBcc: x@evil.test' });
  const receipt = renderReceipt(readEvent(event), 'en-US');
  assert.doesNotMatch(receipt.subject, /[\r\n]/);
  assert.equal(receipt.subject, 'Your receipt from MUGS Bcc: x@evil.test: $25.00');
});

test('no descriptor: the merchant is named by its account id; a v1 event has no recipient', () => {
  const receipt = renderReceipt(readEvent(asV1(paymentSucceeded())), 'en-US');
  assert.equal(receipt.recipient, null);
  assert.equal(receipt.subject, `Your receipt from ${merchantA}: $25.00`);
});

test('the Message-ID is derived from the event id alone', () => {
  assert.equal(
    receiptMessageId('01935f4e-0000-7000-8000-0000000000aa'),
    '<01935f4e-0000-7000-8000-0000000000aa@receipts.paystream>',
  );
});

test('a declined payment has no receipt', () => {
  assert.throws(
    () => renderReceipt({ ...paymentSucceeded(), type: 'payment.failed' }, 'en-US'),
    /no receipt for payment.failed/,
  );
});
