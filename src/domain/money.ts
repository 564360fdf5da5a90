import { z } from 'zod';
import { ValidationError } from './errors.js';

/**
 * Money as integer minor units (cents, 分, yen) in a JS number that is always a safe integer.
 * No float ever carries an amount: platform decimals are parsed as text, and every sum and
 * product checks that it stays exact.
 */

/**
 * ISO 4217 minor-unit exponents of the currencies the marketplaces we connect use.
 * TWD and IDR are 2 in ISO 4217 even though prices are usually whole; platforms send them
 * with two decimals, so 2 it is.
 */
export const MINOR_UNIT_EXPONENT = {
  CNY: 2,
  HKD: 2,
  TWD: 2,
  USD: 2,
  EUR: 2,
  GBP: 2,
  CHF: 2,
  SEK: 2,
  NOK: 2,
  DKK: 2,
  PLN: 2,
  CAD: 2,
  AUD: 2,
  NZD: 2,
  SGD: 2,
  MYR: 2,
  THB: 2,
  PHP: 2,
  IDR: 2,
  INR: 2,
  AED: 2,
  SAR: 2,
  MXN: 2,
  BRL: 2,
  JPY: 0,
  KRW: 0,
  VND: 0,
  KWD: 3,
  BHD: 3,
} as const;

export type CurrencyCode = keyof typeof MINOR_UNIT_EXPONENT;

export const CURRENCY_CODES = Object.keys(MINOR_UNIT_EXPONENT) as [CurrencyCode, ...CurrencyCode[]];

export const currencySchema = z.enum(CURRENCY_CODES, {
  error: (issue) => `unsupported currency ${JSON.stringify(issue.input)} (expected an ISO 4217 code we know)`,
});

/**
 * Largest absolute amount accepted anywhere, in minor units: 10^13 (100 billion yuan/dollars,
 * 10 trillion yen). Far above any real order and far enough below 2^53 that sums of hundreds
 * of such amounts stay exact.
 */
export const MAX_AMOUNT_MINOR = 10_000_000_000_000;

/** An amount with its currency. `minor` is a safe integer in the currency's minor unit. */
export interface Money {
  readonly currency: CurrencyCode;
  readonly minor: number;
}

export function minorUnitExponent(currency: CurrencyCode): number {
  return MINOR_UNIT_EXPONENT[currency];
}

/** Options for the parsers. */
export interface ParseMoneyOptions {
  /** Accept a leading `-` (e.g. WooCommerce refund totals "-10.00"). Default: false. */
  allowNegative?: boolean;
}

export type MoneyParse = { ok: true; minor: number } | { ok: false; reason: string };

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * Parses a platform decimal string ("199.00", "0.5", "19.9") into minor units.
 *
 * Accepted: optional `-` (only with `allowNegative`), digits, optionally `.` and digits.
 * More fraction digits than the currency has are accepted only when the extra ones are zeros
 * ("1.990" is 199 fen; "1.999" is rejected — never rounded).
 * Rejected, each with its reason: empty or blank text, whitespace, `+`, exponents ("1e3"),
 * ".5" / "5.", and grouping separators ("1,299.00" — no platform we read sends them, and a
 * comma is the decimal separator in many locales, so guessing could be off by 100x).
 * Magnitudes above {@link MAX_AMOUNT_MINOR} are rejected. With `allowNegative`, "-0.00" gives 0;
 * without it any `-` is rejected, even on zero.
 */
export function parseDecimal(
  text: string,
  currency: CurrencyCode,
  options: ParseMoneyOptions = {},
): MoneyParse {
  if (typeof text !== 'string') return { ok: false, reason: `expected a decimal string, got ${typeof text}` };
  const shown = JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);
  if (text.includes(',')) {
    return { ok: false, reason: `${shown}: grouping or comma separators are not accepted` };
  }
  const m = DECIMAL.exec(text);
  if (!m) return { ok: false, reason: `${shown} is not a plain decimal number` };
  const [, sign, whole = '', fraction = ''] = m;
  if (sign && !options.allowNegative) return { ok: false, reason: `${shown}: negative amount not allowed` };
  const exponent = MINOR_UNIT_EXPONENT[currency];
  const kept = fraction.slice(0, exponent);
  if (/[^0]/.test(fraction.slice(exponent))) {
    return {
      ok: false,
      reason: `${shown} has more than ${exponent} decimal places for ${currency}`,
    };
  }
  const digits = (whole + kept.padEnd(exponent, '0')).replace(/^0+(?=\d)/, '');
  if (digits.length > 16 || BigInt(digits) > BigInt(MAX_AMOUNT_MINOR)) {
    return { ok: false, reason: `${shown} exceeds the largest accepted amount` };
  }
  const magnitude = Number(digits);
  return { ok: true, minor: sign && magnitude !== 0 ? -magnitude : magnitude };
}

/** {@link parseDecimal} that throws a {@link ValidationError} with the reason. */
export function decimalToMinor(
  text: string,
  currency: CurrencyCode,
  options: ParseMoneyOptions = {},
): number {
  const parsed = parseDecimal(text, currency, options);
  if (!parsed.ok) throw new ValidationError(`invalid ${currency} amount: ${parsed.reason}`);
  return parsed.minor;
}

/**
 * Converts a JSON number in major units (Pinduoduo sends yuan as DOUBLE) into minor units
 * without float arithmetic: the number's shortest round-trip text (`String(19.9)` is "19.9")
 * goes through {@link parseDecimal}. A value that is not a decimal with at most the currency's
 * fraction digits is rejected, e.g. `0.1 + 0.2` ("0.30000000000000004"), `1e21`, NaN.
 */
export function parsePlatformNumber(
  value: number,
  currency: CurrencyCode,
  options: ParseMoneyOptions = {},
): MoneyParse {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return { ok: false, reason: `${String(value)} is not a finite number` };
  }
  return parseDecimal(Object.is(value, -0) ? '0' : String(value), currency, options);
}

/**
 * Accepts an amount already in minor units (Doudian sends fen as integers), as a number or a
 * digit string. Rejects fractions, unsafe integers and magnitudes above {@link MAX_AMOUNT_MINOR}.
 */
export function parseMinorInteger(value: number | string, options: ParseMoneyOptions = {}): MoneyParse {
  let n: number;
  if (typeof value === 'string') {
    if (!/^-?\d{1,16}$/.test(value)) {
      return { ok: false, reason: `${JSON.stringify(value.slice(0, 40))} is not an integer amount` };
    }
    n = Number(value);
  } else if (typeof value === 'number' && Number.isSafeInteger(value)) {
    n = value;
  } else {
    return { ok: false, reason: `${String(value)} is not an integer amount` };
  }
  if (n < 0 && !options.allowNegative) return { ok: false, reason: `${n}: negative amount not allowed` };
  if (Math.abs(n) > MAX_AMOUNT_MINOR)
    return { ok: false, reason: `${n} exceeds the largest accepted amount` };
  return { ok: true, minor: n === 0 ? 0 : n };
}

/** Formats minor units as a plain decimal string: 19900 CNY -> "199.00", -1 -> "-0.01", 1500 JPY -> "1500". */
export function formatMinor(minor: number, currency: CurrencyCode): string {
  assertSafeInteger(minor, 'amount');
  const exponent = MINOR_UNIT_EXPONENT[currency];
  const sign = minor < 0 ? '-' : '';
  const digits = String(Math.abs(minor));
  if (exponent === 0) return sign + digits;
  const padded = digits.padStart(exponent + 1, '0');
  return `${sign}${padded.slice(0, -exponent)}.${padded.slice(-exponent)}`;
}

/** "CNY 199.00" */
export function formatMoney(money: Money): string {
  return `${money.currency} ${formatMinor(money.minor, money.currency)}`;
}

export function money(minor: number, currency: CurrencyCode): Money {
  assertSafeInteger(minor, 'amount');
  return { currency, minor };
}

function assertSafeInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what} ${String(value)} is not a safe integer`);
}

/** a + b, throwing RangeError if either operand or the result is not a safe integer. */
export function addMinor(a: number, b: number): number {
  assertSafeInteger(a, 'amount');
  assertSafeInteger(b, 'amount');
  const sum = a + b;
  assertSafeInteger(sum, 'sum');
  return sum;
}

/** a - b, exact or RangeError. */
export function subtractMinor(a: number, b: number): number {
  return addMinor(a, -b);
}

/** Exact sum of minor amounts; RangeError on a non-integer or an unsafe result. Empty -> 0. */
export function sumMinor(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total = addMinor(total, v);
  return total;
}

/** unit x quantity, exact or RangeError (the product is checked before it can lose precision). */
export function multiplyMinor(unit: number, quantity: number): number {
  assertSafeInteger(unit, 'amount');
  assertSafeInteger(quantity, 'quantity');
  const exact = BigInt(unit) * BigInt(quantity);
  if (exact > BigInt(Number.MAX_SAFE_INTEGER) || exact < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError(`product ${unit} x ${quantity} is not a safe integer`);
  }
  return Number(exact);
}

/** Sum of amounts in one currency; throws ValidationError when currencies differ. */
export function sumMoney(currency: CurrencyCode, items: Iterable<Money>): Money {
  let total = 0;
  for (const item of items) {
    if (item.currency !== currency) {
      throw new ValidationError(`cannot add ${item.currency} to ${currency}`);
    }
    total = addMinor(total, item.minor);
  }
  return { currency, minor: total };
}

/** A non-negative amount in minor units, at most {@link MAX_AMOUNT_MINOR}. */
export const minorAmountSchema = z
  .number({ error: 'amount must be a number in minor units' })
  .int({ error: 'amount must be an integer number of minor units (cents/分)' })
  .min(0, { error: 'amount must not be negative' })
  .max(MAX_AMOUNT_MINOR, { error: `amount must be at most ${MAX_AMOUNT_MINOR} minor units` });

/** A signed amount in minor units (e.g. a manual adjustment that raises the price). */
export const signedMinorAmountSchema = z
  .number({ error: 'amount must be a number in minor units' })
  .int({ error: 'amount must be an integer number of minor units (cents/分)' })
  .min(-MAX_AMOUNT_MINOR, { error: `amount must be at least -${MAX_AMOUNT_MINOR} minor units` })
  .max(MAX_AMOUNT_MINOR, { error: `amount must be at most ${MAX_AMOUNT_MINOR} minor units` });

/**
 * Zod schema for a platform decimal string that yields minor units, for connectors
 * validating a payload whose currency is known up front (see {@link parseDecimal}).
 */
export function decimalStringSchema(currency: CurrencyCode, options: ParseMoneyOptions = {}) {
  return z.string().transform((text, ctx) => {
    const parsed = parseDecimal(text, currency, options);
    if (parsed.ok) return parsed.minor;
    ctx.issues.push({ code: 'custom', message: parsed.reason, input: text });
    return z.NEVER;
  });
}
