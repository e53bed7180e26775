import { memo } from '../../platform/memo.ts';

/**
 * Amounts on receipts. An event's `amount` is an integer in the currency's ISO 4217 minor unit, so
 * the exponent must be ISO's: Intl's own digits come from CLDR and differ for 16 currencies (HUF,
 * IDR, IQD, ...), where Intl would round 10.50 Ft to 11 Ft. A receipt shows the exact amount.
 *
 * The receipts service may not import the payment core, so it keeps the exceptions to "2" here;
 * test/services/receipts/render.test.ts checks them against src/payments/currencies.ts.
 */
// biome-ignore format: a table reads better packed
export const minorUnitExceptions: Readonly<Record<string, number>> = {
  bhd: 3, bif: 0, clp: 0, djf: 0, gnf: 0, iqd: 3, isk: 0, jod: 3, jpy: 0, kmf: 0, krw: 0, kwd: 3,
  lyd: 3, omr: 3, pyg: 0, rwf: 0, tnd: 3, ugx: 0, vnd: 0, vuv: 0, xaf: 0, xof: 0, xpf: 0,
};

export function minorUnitExponent(currency: string): number {
  const code = currency.toLowerCase();
  return Object.hasOwn(minorUnitExceptions, code) ? minorUnitExceptions[code]! : 2;
}

/** `amount` minor units as an exact decimal string: 2500 usd -> "25.00", 500 jpy -> "500", 1500 kwd -> "1.500". */
export function decimalOf(amount: number | bigint, currency: string): string {
  const exponent = minorUnitExponent(currency);
  const minor = BigInt(amount);
  const sign = minor < 0n ? '-' : '';
  const digits = (minor < 0n ? -minor : minor).toString().padStart(exponent + 1, '0');
  if (exponent === 0) return sign + digits;
  return `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/**
 * The amount for a reader of `locale`: "$25.00", "25,00 €", "¥500", "KWD 1.500". Formatted from the
 * decimal string, never through a float, with exactly the currency's minor-unit digits.
 */
export function formatAmount(amount: number | bigint, currency: string, locale: string): string {
  return amountFormat(`${locale} ${currency}`).format(decimalOf(amount, currency) as `${number}`);
}
/** Keyed by "<locale> <currency>" (a locale tag has no spaces). */
const amountFormat = memo((key) => {
  const [locale, currency] = key.split(' ') as [string, string];
  const exponent = minorUnitExponent(currency);
  return new Intl.NumberFormat(locale, {
    style: 'currency',
    currency: currency.toUpperCase(),
    minimumFractionDigits: exponent,
    maximumFractionDigits: exponent,
  });
});
