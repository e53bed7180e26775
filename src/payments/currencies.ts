/**
 * ISO 4217 active currency codes with their minor-unit exponent (digits after the decimal point).
 * Amounts are always integers in minor units: 1000 usd = $10.00, 1000 jpy = ¥1000.
 */
// biome-ignore format: a table reads better packed
const EXPONENTS: Record<string, number> = {
  aed: 2, afn: 2, all: 2, amd: 2, ang: 2, aoa: 2, ars: 2, aud: 2, awg: 2, azn: 2, bam: 2, bbd: 2, bdt: 2,
  bgn: 2, bhd: 3, bif: 0, bmd: 2, bnd: 2, bob: 2, brl: 2, bsd: 2, btn: 2, bwp: 2, byn: 2, bzd: 2, cad: 2,
  cdf: 2, chf: 2, clp: 0, cny: 2, cop: 2, crc: 2, cup: 2, cve: 2, czk: 2, djf: 0, dkk: 2, dop: 2, dzd: 2,
  egp: 2, ern: 2, etb: 2, eur: 2, fjd: 2, fkp: 2, gbp: 2, gel: 2, ghs: 2, gip: 2, gmd: 2, gnf: 0, gtq: 2,
  gyd: 2, hkd: 2, hnl: 2, htg: 2, huf: 2, idr: 2, ils: 2, inr: 2, iqd: 3, irr: 2, isk: 0, jmd: 2, jod: 3,
  jpy: 0, kes: 2, kgs: 2, khr: 2, kmf: 0, kpw: 2, krw: 0, kwd: 3, kyd: 2, kzt: 2, lak: 2, lbp: 2, lkr: 2,
  lrd: 2, lsl: 2, lyd: 3, mad: 2, mdl: 2, mga: 2, mkd: 2, mmk: 2, mnt: 2, mop: 2, mru: 2, mur: 2, mvr: 2,
  mwk: 2, mxn: 2, myr: 2, mzn: 2, nad: 2, ngn: 2, nio: 2, nok: 2, npr: 2, nzd: 2, omr: 3, pab: 2, pen: 2,
  pgk: 2, php: 2, pkr: 2, pln: 2, pyg: 0, qar: 2, ron: 2, rsd: 2, rub: 2, rwf: 0, sar: 2, sbd: 2, scr: 2,
  sdg: 2, sek: 2, sgd: 2, shp: 2, sle: 2, sos: 2, srd: 2, ssp: 2, stn: 2, svc: 2, syp: 2, szl: 2, thb: 2,
  tjs: 2, tmt: 2, tnd: 3, top: 2, try: 2, ttd: 2, twd: 2, tzs: 2, uah: 2, ugx: 0, usd: 2, uyu: 2, uzs: 2,
  ves: 2, vnd: 0, vuv: 0, wst: 2, xaf: 0, xcd: 2, xof: 0, xpf: 0, yer: 2, zar: 2, zmw: 2, zwg: 2,
};

/** Largest amount accepted in one payment, in major units, whatever the currency. */
export const amountMajorUnitsMax = 999_999_999;

/** The JSON-schema bound on `amount`: the largest value any currency's limit can reach. */
export const amountMinorUnitsMax = 999_999_999_999;

/** The currency's minor-unit exponent, or undefined when the code is not an ISO 4217 currency. */
export function currencyExponent(code: string): number | undefined {
  return Object.hasOwn(EXPONENTS, code) ? EXPONENTS[code] : undefined;
}

/** Largest payment amount in minor units for a currency: 999,999,999 major units. */
export function amountMaxFor(code: string): number {
  const exponent = currencyExponent(code);
  if (exponent === undefined) throw new Error(`not an ISO 4217 currency: ${code}`);
  return (amountMajorUnitsMax + 1) * 10 ** exponent - 1;
}

export const currencyCodes: readonly string[] = Object.keys(EXPONENTS);
