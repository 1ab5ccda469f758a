/**
 * Vietnamese text normalisation before synthesis: what an announcer reads aloud from what an
 * officer types. eSpeak (and most voices) read digits one by one or in English rules, spell "UBND",
 * and say nothing sensible for "14h30", "25/11" or "km/h"; this turns them into words:
 *
 *   phone numbers   "0912 345 678"  → "không chín một hai, ba bốn năm, sáu bảy tám"
 *   dates           "25/11/2026"    → "ngày hai mươi lăm tháng mười một năm hai nghìn …"
 *                   ("ngày 25/11" keeps one "ngày"; "25-27/11" is a range; "11/2026" a month)
 *   times           "14h30", "14:30" → "mười bốn giờ ba mươi phút"; "7h-11h" a range
 *   ranges, units   "100-150mm"     → "từ một trăm đến một trăm năm mươi mi li mét"
 *   numbers         "1.000", "2,5", "-2" → "một nghìn", "hai phẩy năm", "âm hai"
 *   abbreviations   "UBND", "HĐND", "TP. Huế" → "ủy ban nhân dân", …, "thành phố Huế"
 *   words           "thứ 4", "tháng 4" → "thứ tư", "tháng tư"
 *
 * The tables (abbreviations, units, phrases) are data (lexicon.ts) a commune extends. Rules run
 * in that order, most specific first, each on what the previous left.
 */
import { BUILTIN_LEXICON, type Lexicon, type LexiconPatch, mergeLexicon } from './lexicon.js';
import { type Dialect, readDigits, readInteger, readMonth, readNumber } from './numbers.js';

export interface NormaliseOptions {
  /** regional number words: Southern "lẻ", "ngàn" (default Northern "linh", "nghìn") */
  dialect?: Dialect;
}

/** A compiled normaliser: reuse it, building the patterns costs more than running them. */
export type Normaliser = (text: string) => string;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** An alternation of the keys, longest first so "km/h" wins over "km" and "NĐ-CP" over "NĐ". */
const alternation = (keys: string[]) =>
  keys
    .slice()
    .sort((a, b) => b.length - a.length)
    .map(escapeRe)
    .join('|');

const NUM = String.raw`\d+(?:[.,]\d+)*`;
const TIME = String.raw`\d{1,2}(?:h(?:\d{2})?|g\d{2}|:\d{2}(?::\d{2})?)'?`;
/** text before `offset` ends with one of these words (a date already says "ngày", a range "từ") */
const endsWith = (before: string, words: RegExp) => words.test(before.slice(-12));
const SAYS_DAY = /(?:ngày|mùng|mồng|hôm)\s*$/iu;
const SAYS_MONTH = /tháng\s*$/iu;
const SAYS_FROM = /(?:từ|khoảng)\s*$/iu;
const SAYS_LEVEL = /cấp\s*$/iu;

const validDay = (d: number) => d >= 1 && d <= 31;
const validMonth = (m: number) => m >= 1 && m <= 12;

/** "14h30" → "mười bốn giờ ba mươi phút"; null when it is not a time of day. */
function readTime(t: string): string | null {
  const m = /^(\d{1,2})(?:h(\d{2})?|g(\d{2})|:(\d{2})(?::(\d{2}))?)'?$/.exec(t);
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2] ?? m[3] ?? m[4] ?? 0);
  const s = Number(m[5] ?? 0);
  if (h > 24 || min > 59 || s > 59) return null;
  let out = `${readInteger(String(h))} giờ`;
  if (min > 0 || s > 0) out += ` ${readInteger(String(min))} phút`;
  if (s > 0) out += ` ${readInteger(String(s))} giây`;
  return out;
}

/**
 * Builds the normaliser for `lexicon` (the built-in one with a commune's patch applied).
 */
export function createNormaliser(
  lexicon: Lexicon = BUILTIN_LEXICON,
  options: NormaliseOptions = {},
): Normaliser {
  const dialect = options.dialect ?? 'north';
  const num = (s: string): string => {
    const whole = readNumber(s, dialect);
    if (whole !== null) return whole;
    // "1,2,3" or "1.2.3.4": its numbers one by one, the separators kept (as pauses)
    return s.replace(/\d+/g, (d) => ` ${readInteger(d, dialect)} `).replace(/\./g, ' chấm ');
  };
  const year = (y: string) => readInteger(String(Number(y)), dialect);

  const phraseMap = new Map(Object.entries(lexicon.phrases).map(([k, v]) => [k.toLocaleLowerCase('vi'), v]));
  const phraseRe = phraseMap.size
    ? new RegExp(
        String.raw`(?<![\p{L}\p{N}])(?:${alternation([...phraseMap.keys()])})(?![\p{L}\p{N}])`,
        'giu',
      )
    : null;
  const abbrKeys = Object.keys(lexicon.abbreviations);
  const abbrRe = abbrKeys.length
    ? new RegExp(String.raw`(?<![\p{L}\p{N}])(?:${alternation(abbrKeys)})(?!\p{L})`, 'gu')
    : null;
  const unitKeys = Object.keys(lexicon.units);
  const unitPart = unitKeys.length ? String.raw`(?:\s*(${alternation(unitKeys)})(?![\p{L}\p{N}]))?` : '()?';

  const rules: [RegExp, (...m: string[]) => string][] = [];
  const rule = (
    re: RegExp,
    fn: (match: string, groups: (string | undefined)[], before: string) => string,
  ) => {
    rules.push([
      re,
      (...args: unknown[]) => {
        // String.replace passes (match, ...groups, offset, whole)
        const whole = args.at(-1) as string;
        const offset = args.at(-2) as number;
        const groups = args.slice(1, -2) as (string | undefined)[];
        return fn(args[0] as string, groups, whole.slice(0, offset));
      },
    ]);
  };

  // Phone numbers: 10–11 digits from a leading 0 (or +84 and 9–10), grouped as written.
  rule(
    /(?<![\p{N}+.,/])(\+84[ .-]?|0)(\d{2,4}(?:[ .-]?\d{2,4}){1,4})(?![\p{N}]|[.,/]\d)/gu,
    (match, [prefix, rest]) => {
      const digits = rest!.replace(/\D/g, '');
      const international = prefix!.startsWith('+');
      const n = digits.length + (international ? 0 : 1);
      if (international ? n < 9 || n > 10 : n < 10 || n > 11) return match;
      let groups = rest!.split(/[ .-]/);
      if (!international) groups[0] = `0${groups[0]}`;
      if (groups.length === 1) {
        const all = groups[0]!;
        const cut = all.length === 10 ? [4, 7] : [3, 7];
        groups = [all.slice(0, cut[0]), all.slice(cut[0], cut[1]), all.slice(cut[1])];
      }
      const spoken = groups.map(readDigits).join(', ');
      return ` ${international ? `cộng tám bốn, ${spoken}` : spoken} `;
    },
  );

  // Hotlines 1800/1900 (free or paid numbers) and three-digit emergency numbers after "gọi"/"số":
  // digit by digit, as they are dialled.
  rule(/(?<![\p{N}.,])(1[89]00)[ .]?(\d{3,4})(?:[ .]?(\d{2,4}))?(?![\p{N}]|[.,]\d)/gu, (_m, groups) => {
    return ` ${groups
      .filter((g): g is string => !!g)
      .map(readDigits)
      .join(', ')} `;
  });
  rule(/(?<=(?:gọi|số|đường dây)\s+)(11[1345])(?![\p{N}]|[.,]\d)/giu, (_m, [n]) => ` ${readDigits(n!)} `);

  // Dates. A range of days in one month first: "25-27/11" → "từ ngày … đến ngày … tháng …".
  rule(
    /(?<![\p{N}/.,])(\d{1,2})\s*-\s*(\d{1,2})\/(\d{1,2})(?:\/(\d{4}))?(?![\p{N}]|\/\d)/gu,
    (match, [d1, d2, m, y], before) => {
      if (!validDay(+d1!) || !validDay(+d2!) || !validMonth(+m!)) return match;
      const from = endsWith(before, SAYS_FROM) ? '' : 'từ ';
      const day = endsWith(before, SAYS_DAY) ? '' : 'ngày ';
      const yr = y ? ` năm ${year(y)}` : '';
      return ` ${from}${day}${readInteger(String(+d1!))} đến ngày ${readInteger(String(+d2!))} tháng ${readMonth(+m!)}${yr} `;
    },
  );
  const date = (match: string, d: string, m: string, y: string | undefined, before: string) => {
    if (!validDay(+d) || !validMonth(+m)) return match;
    const day = endsWith(before, SAYS_DAY) ? '' : 'ngày ';
    return ` ${day}${readInteger(String(+d))} tháng ${readMonth(+m)}${y ? ` năm ${year(y)}` : ''} `;
  };
  rule(/(?<![\p{N}/.,])(\d{1,2})\/(\d{1,2})(?:\/(\d{4}))?(?![\p{N}/])/gu, (match, [d, m, y], before) =>
    date(match, d!, m!, y, before),
  );
  rule(
    /(?<![\p{N}/.,-])(\d{1,2})([.-])(\d{1,2})\2(\d{4})(?![\p{N}]|[.-]\d)/gu,
    (match, [d, , m, y], before) => date(match, d!, m!, y, before),
  );
  // A month of a year: "11/2026" → "tháng mười một năm hai nghìn không trăm hai mươi sáu".
  rule(/(?<![\p{N}/.,])(\d{1,2})\/(\d{4})(?![\p{N}/])/gu, (match, [m, y], before) => {
    if (!validMonth(+m!)) return match;
    return ` ${endsWith(before, SAYS_MONTH) ? '' : 'tháng '}${readMonth(+m!)} năm ${year(y!)} `;
  });

  // Times of day, and ranges of them: "7h-11h30" → "từ bảy giờ đến mười một giờ ba mươi phút".
  rule(
    new RegExp(String.raw`(?<![\p{N}.,:])${TIME}(?:\s*-\s*${TIME})?(?![\p{L}\p{N}]|:\d)`, 'gu'),
    (match, _g, before) => {
      const parts = match.split(/\s*-\s*/);
      const spoken = parts.map(readTime);
      if (spoken.some((s) => s === null)) return match;
      if (spoken.length === 1) return ` ${spoken[0]} `;
      return ` ${endsWith(before, SAYS_FROM) ? '' : 'từ '}${spoken[0]} đến ${spoken[1]} `;
    },
  );

  // Words numbers change inside: "thứ 4" is Wednesday "thứ tư", "thứ 1" "thứ nhất", "tháng 4" "tháng tư".
  rule(/(?<!\p{L})(thứ|Thứ)\s+([1-8])(?![\p{N}]|[.,]\d)/gu, (_m, [w, n]) => {
    const word = n === '1' ? 'nhất' : n === '4' ? 'tư' : readInteger(n!);
    return `${w} ${word}`;
  });
  rule(/(?<!\p{L})(tháng|Tháng)\s+(0?4)(?![\p{N}/]|[.,]\d)/gu, (_m, [w]) => `${w} tư`);

  // Numbers on both sides of a slash, left by the rules above: "32/13" → "… trên …".
  rule(/(?<=\d)\/(?=\d)/g, () => ' trên ');

  // Numbers, ranges of them, and their units: "100-150mm", "-2°C", "2,5 ha", "1.000 đồng".
  rule(
    new RegExp(
      String.raw`(?<![\p{N}.,])(?:(?<![\p{L}\p{N}])(-)(?=\d))?(${NUM})(?:\s*-\s*(${NUM}))?${unitPart}`,
      'gu',
    ),
    (_match, [minus, a, b, unit], before) => {
      const unitWords = unit ? ` ${lexicon.units[unit]}` : '';
      const first = `${minus ? 'âm ' : ''}${num(a!)}`;
      if (!b) return ` ${first}${unitWords} `;
      if (endsWith(before, SAYS_LEVEL)) return ` ${first} đến cấp ${num(b)}${unitWords} `;
      return ` ${endsWith(before, SAYS_FROM) ? '' : 'từ '}${first} đến ${num(b)}${unitWords} `;
    },
  );

  /** Runs every step; `text` may be anything an officer typed. */
  return (text: string): string => {
    let t = text
      .normalize('NFC')
      .replace(/[\u00a0\u2007\u2009\u202f]/g, ' ')
      .replace(/[\u2010-\u2015\u2212]/g, '-');
    if (phraseRe) t = t.replace(phraseRe, (m) => ` ${phraseMap.get(m.toLocaleLowerCase('vi')) ?? m} `);
    // "TP. Huế", "TP.HCM": the dot of a place prefix is not the end of a sentence.
    t = t.replace(/(?<![\p{L}\p{N}])(TP|TX|TT)\.\s*(?=\p{Lu})/gu, '$1 ');
    if (abbrRe) t = t.replace(abbrRe, (m) => ` ${lexicon.abbreviations[m] ?? m} `);
    for (const [re, fn] of rules) t = t.replace(re, fn);
    return (
      t
        .replace(/\s*&\s*/g, ' và ')
        .replace(/~\s*(?=\p{L})/gu, 'khoảng ')
        // a dash between words is a pause; symbols a voice would spell out are dropped
        .replace(/\s+-\s+/g, ', ')
        .replace(/[*#_|<>[\]{}"“”/\\]+/g, ' ')
        .replace(/\s+/g, ' ')
        .replace(/\s+([,.;:!?…)])/g, '$1')
        .replace(/\(\s+/g, '(')
        .replace(/([,;:])(?=\S)/g, '$1 ')
        .trim()
    );
  };
}

/**
 * Normalises Vietnamese `text` for speech with the built-in tables, plus `extra` entries (a
 * commune's lexicon patch: added, overriding, or `null` to remove). Builds the patterns at each
 * call (well under a millisecond); a caller with many texts keeps a createNormaliser instead.
 */
export function normaliseVi(text: string, extra?: LexiconPatch, options: NormaliseOptions = {}): string {
  const lexicon = extra ? mergeLexicon(BUILTIN_LEXICON, extra) : BUILTIN_LEXICON;
  return createNormaliser(lexicon, { dialect: options.dialect ?? 'north' })(text);
}
