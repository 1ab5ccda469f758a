/**
 * Vietnamese number reading, as a commune radio announcer says it:
 *  - 21 "hai mươi mốt" (mốt after a tens digit of 2 or more; 11 is "mười một"),
 *  - 15, 25 "mười lăm", "hai mươi lăm" (lăm after any tens digit; 5 alone or after linh is "năm"),
 *  - 105 "một trăm linh năm" (Southern "lẻ"), 1 005 "một nghìn không trăm linh năm",
 *  - 10 "mười", 20 "hai mươi", 1 000 "một nghìn" (Southern "ngàn"), 10⁶ "triệu", 10⁹ "tỷ",
 *    10¹² "nghìn tỷ" (a group under 100 after a higher one says "không trăm").
 * The tens digit 4 reads "bốn" (not the literary "tư"): clearest over a loudspeaker.
 */

/** Regional forms: Northern and Central say "linh", "nghìn"; Southern "lẻ", "ngàn". */
export type Dialect = 'north' | 'central' | 'south';

export const DIGITS = ['không', 'một', 'hai', 'ba', 'bốn', 'năm', 'sáu', 'bảy', 'tám', 'chín'] as const;

/** Longest integer read as a number; longer runs of digits are read digit by digit. */
const MAX_DIGITS = 15;

const words = (d: Dialect) => ({
  odd: d === 'south' ? 'lẻ' : 'linh',
  thousand: d === 'south' ? 'ngàn' : 'nghìn',
});

/** 0–99 as said after a hundreds digit or alone; `afterHundreds` adds "linh"/"lẻ" before 1–9. */
function tensAndUnits(n: number, dialect: Dialect, afterHundreds: boolean): string[] {
  const tens = Math.floor(n / 10);
  const unit = n % 10;
  if (tens === 0) {
    if (unit === 0) return [];
    return afterHundreds ? [words(dialect).odd, DIGITS[unit]!] : [DIGITS[unit]!];
  }
  const out = tens === 1 ? ['mười'] : [DIGITS[tens]!, 'mươi'];
  if (unit === 1) out.push(tens === 1 ? 'một' : 'mốt');
  else if (unit === 5) out.push('lăm');
  else if (unit !== 0) out.push(DIGITS[unit]!);
  return out;
}

/** 0–999; `full` says "không trăm" for a group under 100 that follows a higher group. */
function group(n: number, dialect: Dialect, full: boolean): string[] {
  const hundreds = Math.floor(n / 100);
  const rest = n % 100;
  if (hundreds === 0 && !full) return tensAndUnits(rest, dialect, false);
  return [DIGITS[hundreds]!, 'trăm', ...tensAndUnits(rest, dialect, true)];
}

/** An integer 0 ≤ n < 10¹⁵ in words. */
function integerWords(n: bigint, dialect: Dialect): string[] {
  if (n === 0n) return ['không'];
  const BILLION = 1_000_000_000n;
  if (n >= BILLION) {
    // "tỷ" repeats for larger numbers: 10¹² is "một nghìn tỷ"
    const high = integerWords(n / BILLION, dialect);
    const low = n % BILLION;
    return low === 0n ? [...high, 'tỷ'] : [...high, 'tỷ', ...belowBillion(low, dialect, true)];
  }
  return belowBillion(n, dialect, false);
}

function belowBillion(n: bigint, dialect: Dialect, full: boolean): string[] {
  const scales = ['triệu', words(dialect).thousand, ''];
  const groups = [Number((n / 1_000_000n) % 1000n), Number((n / 1000n) % 1000n), Number(n % 1000n)];
  const out: string[] = [];
  let started = full;
  for (const [i, g] of groups.entries()) {
    if (g === 0) continue;
    out.push(...group(g, dialect, started));
    if (scales[i]) out.push(scales[i]!);
    started = true;
  }
  return out;
}

/** Each digit of a string of digits, in words: "0912" → "không chín một hai". */
export function readDigits(digits: string): string {
  return [...digits]
    .filter((c) => c >= '0' && c <= '9')
    .map((c) => DIGITS[Number(c)]!)
    .join(' ');
}

/**
 * A non-negative integer written in digits, in words. Leading zeros ("007", a code) and runs too
 * long for a number are read digit by digit.
 */
export function readInteger(digits: string, dialect: Dialect = 'north'): string {
  if (!/^\d+$/.test(digits)) throw new Error(`not digits: ${digits}`);
  if ((digits.length > 1 && digits.startsWith('0')) || digits.length > MAX_DIGITS) return readDigits(digits);
  return integerWords(BigInt(digits), dialect).join(' ');
}

/**
 * A decimal number, in words: "2" "5" → "hai phẩy năm". The fractional part is read as a number
 * when it is one or two digits without a leading zero ("2,25" "hai phẩy hai mươi lăm"), otherwise
 * digit by digit ("2,05" "hai phẩy không năm", "3,141" "ba phẩy một bốn một").
 */
export function readDecimal(intPart: string, fraction: string, dialect: Dialect = 'north'): string {
  const whole = readInteger(intPart.replace(/^0+(?=\d)/, ''), dialect);
  const frac =
    fraction.length <= 2 && !fraction.startsWith('0') ? readInteger(fraction, dialect) : readDigits(fraction);
  return `${whole} phẩy ${frac}`;
}

/**
 * A number as written in Vietnamese text, in words: "1.000" (dots group thousands), "2,5" (a comma
 * before the decimals), "1.234,5"; also "2.5" (a dot before one, two or four+ digits is a decimal
 * point) and "1,000,000" (English thousands, two groups or more). Null when the string is not one
 * number (then the caller reads its pieces).
 */
export function readNumber(text: string, dialect: Dialect = 'north'): string | null {
  let m = /^(\d{1,3}(?:\.\d{3})+)(?:,(\d+))?$/.exec(text);
  if (m) {
    const int = m[1]!.replaceAll('.', '');
    return m[2] ? readDecimal(int, m[2], dialect) : readInteger(int.replace(/^0+(?=\d)/, ''), dialect);
  }
  m = /^(\d{1,3}(?:,\d{3}){2,})(?:\.(\d+))?$/.exec(text);
  if (m) {
    const int = m[1]!.replaceAll(',', '');
    return m[2] ? readDecimal(int, m[2], dialect) : readInteger(int, dialect);
  }
  m = /^(\d+)[.,](\d+)$/.exec(text);
  if (m) return readDecimal(m[1]!, m[2]!, dialect);
  if (/^\d+$/.test(text)) return readInteger(text, dialect);
  return null;
}

/** A day or month number for a date: "05" → "năm"; month 4 is "tư" ("tháng tư"). */
export function readMonth(month: number): string {
  return month === 4 ? 'tư' : readInteger(String(month));
}
