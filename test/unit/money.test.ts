import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import {
  addMinor,
  decimalStringSchema,
  decimalToMinor,
  formatMinor,
  formatMoney,
  MAX_AMOUNT_MINOR,
  money,
  multiplyMinor,
  parseDecimal,
  parseMinorInteger,
  parsePlatformNumber,
  sumMinor,
  sumMoney,
} from '../../src/domain/money.js';

const minor = (r: ReturnType<typeof parseDecimal>) => (r.ok ? r.minor : `rejected: ${r.reason}`);

describe('parseDecimal', () => {
  it('parses platform decimal strings into minor units', () => {
    expect(minor(parseDecimal('199.00', 'CNY'))).toBe(19900);
    expect(minor(parseDecimal('0.5', 'CNY'))).toBe(50);
    expect(minor(parseDecimal('19.9', 'USD'))).toBe(1990);
    expect(minor(parseDecimal('7', 'CNY'))).toBe(700);
    expect(minor(parseDecimal('007.05', 'CNY'))).toBe(705);
    expect(minor(parseDecimal('1.990', 'CNY'))).toBe(199);
    expect(minor(parseDecimal('1500', 'JPY'))).toBe(1500);
    expect(minor(parseDecimal('1500.00', 'JPY'))).toBe(1500);
    expect(minor(parseDecimal('1.234', 'KWD'))).toBe(1234);
    expect(minor(parseDecimal('100000000000.00', 'CNY'))).toBe(MAX_AMOUNT_MINOR);
  });

  it.each([
    ['1.999', 'more than 2 decimal places'],
    ['0.001', 'more than 2 decimal places'],
    ['abc', 'not a plain decimal'],
    ['', 'not a plain decimal'],
    [' 1.00', 'not a plain decimal'],
    ['1.00 ', 'not a plain decimal'],
    ['+1.00', 'not a plain decimal'],
    ['1e3', 'not a plain decimal'],
    ['.5', 'not a plain decimal'],
    ['5.', 'not a plain decimal'],
    ['0x10', 'not a plain decimal'],
    ['NaN', 'not a plain decimal'],
    ['Infinity', 'not a plain decimal'],
    ['1,299.00', 'comma'],
    ['1,5', 'comma'],
    ['-0.01', 'negative'],
    ['-0.00', 'negative'],
    ['100000000000.01', 'exceeds'],
    ['99999999999999999999999', 'exceeds'],
  ])('rejects %j (%s)', (text, reason) => {
    const r = parseDecimal(text, 'CNY');
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toContain(reason);
  });

  it('rejects fractions of a yen', () => {
    expect(minor(parseDecimal('1500.5', 'JPY'))).toMatch(/more than 0 decimal places for JPY/);
  });

  it('accepts negatives only when asked, and never yields -0', () => {
    expect(minor(parseDecimal('-10.00', 'USD', { allowNegative: true }))).toBe(-1000);
    const zero = parseDecimal('-0.00', 'USD', { allowNegative: true });
    expect(zero.ok && Object.is(zero.minor, 0)).toBe(true);
  });

  it('throws a ValidationError naming the currency and the reason', () => {
    expect(decimalToMinor('12.34', 'CNY')).toBe(1234);
    expect(() => decimalToMinor('1.999', 'CNY')).toThrow(ValidationError);
    expect(() => decimalToMinor('1.999', 'CNY')).toThrow(
      'invalid CNY amount: "1.999" has more than 2 decimal places',
    );
  });

  it('round-trips every amount through formatMinor', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -MAX_AMOUNT_MINOR, max: MAX_AMOUNT_MINOR }),
        fc.constantFrom('CNY', 'JPY', 'KWD') as fc.Arbitrary<'CNY' | 'JPY' | 'KWD'>,
        (value, currency) => {
          const r = parseDecimal(formatMinor(value, currency), currency, { allowNegative: true });
          expect(r).toEqual({ ok: true, minor: value });
        },
      ),
    );
  });

  it('works as a zod transform for connector payloads', () => {
    const schema = decimalStringSchema('CNY');
    expect(schema.parse('79.00')).toBe(7900);
    const bad = schema.safeParse('79.001');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toContain('more than 2 decimal places');
  });
});

describe('parsePlatformNumber (Pinduoduo DOUBLE yuan)', () => {
  it('converts through the shortest decimal text, not float arithmetic', () => {
    expect(minor(parsePlatformNumber(19.9, 'CNY'))).toBe(1990);
    expect(minor(parsePlatformNumber(0.3, 'CNY'))).toBe(30);
    expect(minor(parsePlatformNumber(199, 'CNY'))).toBe(19900);
    expect(minor(parsePlatformNumber(1.15, 'CNY'))).toBe(115); // 1.15 * 100 is 114.99999999999999
    expect(minor(parsePlatformNumber(-0, 'CNY'))).toBe(0);
  });

  it('rejects numbers that are not exact cents', () => {
    expect(parsePlatformNumber(0.1 + 0.2, 'CNY').ok).toBe(false);
    expect(parsePlatformNumber(1.005, 'CNY').ok).toBe(false);
    expect(parsePlatformNumber(1e21, 'CNY').ok).toBe(false);
    expect(parsePlatformNumber(Number.NaN, 'CNY').ok).toBe(false);
    expect(parsePlatformNumber(Number.POSITIVE_INFINITY, 'CNY').ok).toBe(false);
    expect(parsePlatformNumber(-5, 'CNY').ok).toBe(false);
  });

  it('recovers every cent amount that JSON.parse turned into a double', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_AMOUNT_MINOR }), (cents) => {
        const asDouble = JSON.parse(formatMinor(cents, 'CNY')) as number;
        expect(parsePlatformNumber(asDouble, 'CNY')).toEqual({ ok: true, minor: cents });
      }),
    );
  });
});

describe('parseMinorInteger (Doudian fen)', () => {
  it('accepts integers as numbers or digit strings', () => {
    expect(minor(parseMinorInteger(7900))).toBe(7900);
    expect(minor(parseMinorInteger('7900'))).toBe(7900);
    expect(minor(parseMinorInteger(-300, { allowNegative: true }))).toBe(-300);
  });

  it('rejects fractions, negatives, text and huge values', () => {
    for (const v of [79.5, -1, '79.00', 'abc', '', Number.NaN, MAX_AMOUNT_MINOR + 1, 2 ** 53]) {
      expect(parseMinorInteger(v).ok, String(v)).toBe(false);
    }
  });
});

describe('formatting and arithmetic', () => {
  it('formats minor units per currency exponent', () => {
    expect(formatMinor(19900, 'CNY')).toBe('199.00');
    expect(formatMinor(5, 'CNY')).toBe('0.05');
    expect(formatMinor(-1, 'CNY')).toBe('-0.01');
    expect(formatMinor(0, 'USD')).toBe('0.00');
    expect(formatMinor(1500, 'JPY')).toBe('1500');
    expect(formatMinor(1234, 'KWD')).toBe('1.234');
    expect(formatMoney(money(123456, 'CNY'))).toBe('CNY 1234.56');
    expect(() => formatMinor(1.5, 'CNY')).toThrow(RangeError);
  });

  it('sums exactly and refuses anything that would lose precision', () => {
    expect(sumMinor([10, 20, 30])).toBe(60);
    expect(sumMinor([])).toBe(0);
    expect(() => sumMinor([0.1, 0.2])).toThrow(RangeError);
    expect(() => addMinor(Number.MAX_SAFE_INTEGER, 1)).toThrow(RangeError);
    expect(multiplyMinor(19900, 3)).toBe(59700);
    expect(() => multiplyMinor(MAX_AMOUNT_MINOR, 100_000)).toThrow(RangeError);
  });

  it('adds money of one currency only', () => {
    expect(sumMoney('CNY', [money(100, 'CNY'), money(250, 'CNY')])).toEqual(money(350, 'CNY'));
    expect(() => sumMoney('CNY', [money(100, 'CNY'), money(1, 'USD')])).toThrow('cannot add USD to CNY');
  });
});
