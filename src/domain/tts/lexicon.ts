/**
 * The normaliser's tables as data: administrative abbreviations, units after a number, and
 * phrases a voice gets wrong. The built-in table is below; a commune adds to it or overrides it
 * with a JSON or YAML file (TTS_LEXICON), validated here at load. A value `null` removes a
 * built-in entry (e.g. a commune where "TT" means "thông tư", not "thị trấn", sets its own).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export interface Lexicon {
  /** whole tokens, case-sensitive: "UBND" → "ủy ban nhân dân" */
  abbreviations: Record<string, string>;
  /** after a number (with or without a space): "km/h" → "ki lô mét trên giờ" */
  units: Record<string, string>;
  /** whole words or phrases, any case: what the voice mispronounces, said another way */
  phrases: Record<string, string>;
}

/** What a commune's file may hold: each table optional, an entry's value `null` to remove it. */
export type LexiconPatch = { [K in keyof Lexicon]?: Record<string, string | null> };

export const BUILTIN_LEXICON: Lexicon = {
  abbreviations: {
    UBND: 'ủy ban nhân dân',
    HĐND: 'hội đồng nhân dân',
    UB: 'ủy ban',
    MTTQ: 'mặt trận tổ quốc',
    MTTQVN: 'mặt trận tổ quốc Việt Nam',
    TP: 'thành phố',
    TT: 'thị trấn',
    TX: 'thị xã',
    KP: 'khu phố',
    TDP: 'tổ dân phố',
    BCH: 'ban chỉ huy',
    BCĐ: 'ban chỉ đạo',
    BQL: 'ban quản lý',
    PCTT: 'phòng chống thiên tai',
    TKCN: 'tìm kiếm cứu nạn',
    'PCTT&TKCN': 'phòng chống thiên tai và tìm kiếm cứu nạn',
    PCCC: 'phòng cháy chữa cháy',
    CAND: 'công an nhân dân',
    QĐND: 'quân đội nhân dân',
    CSGT: 'cảnh sát giao thông',
    ATGT: 'an toàn giao thông',
    ATTP: 'an toàn vệ sinh thực phẩm',
    THCS: 'trung học cơ sở',
    THPT: 'trung học phổ thông',
    'GD&ĐT': 'giáo dục và đào tạo',
    'NN&PTNT': 'nông nghiệp và phát triển nông thôn',
    'TN&MT': 'tài nguyên và môi trường',
    'LĐTB&XH': 'lao động thương binh và xã hội',
    KTTV: 'khí tượng thủy văn',
    TTYT: 'trung tâm y tế',
    TYT: 'trạm y tế',
    BV: 'bệnh viện',
    BHYT: 'bảo hiểm y tế',
    BHXH: 'bảo hiểm xã hội',
    HTX: 'hợp tác xã',
    'KT-XH': 'kinh tế xã hội',
    PCT: 'phó chủ tịch',
    ĐBQH: 'đại biểu quốc hội',
    QL: 'quốc lộ',
    TL: 'tỉnh lộ',
    QĐ: 'quyết định',
    NĐ: 'nghị định',
    'NĐ-CP': 'nghị định chính phủ',
    CP: 'chính phủ',
    SĐT: 'số điện thoại',
    VN: 'Việt Nam',
    HCM: 'Hồ Chí Minh',
    CN: 'chủ nhật',
    'COVID-19': 'cô vít mười chín',
  },
  units: {
    'km/h': 'ki lô mét trên giờ',
    'km/giờ': 'ki lô mét một giờ',
    'm/s': 'mét trên giây',
    'm3/s': 'mét khối trên giây',
    'm³/s': 'mét khối trên giây',
    'mm/h': 'mi li mét một giờ',
    km2: 'ki lô mét vuông',
    'km²': 'ki lô mét vuông',
    m2: 'mét vuông',
    'm²': 'mét vuông',
    m3: 'mét khối',
    'm³': 'mét khối',
    km: 'ki lô mét',
    m: 'mét',
    cm: 'xen ti mét',
    mm: 'mi li mét',
    ha: 'héc ta',
    kg: 'ki lô gam',
    g: 'gam',
    l: 'lít',
    ml: 'mi li lít',
    '°C': 'độ xê',
    '℃': 'độ xê',
    '°': 'độ',
    '%': 'phần trăm',
    hPa: 'héc tô pa xcan',
    kW: 'ki lô oát',
    kWh: 'ki lô oát giờ',
    MW: 'mê ga oát',
    kV: 'ki lô vôn',
    V: 'vôn',
    đ: 'đồng',
    VNĐ: 'đồng',
    VND: 'đồng',
  },
  phrases: {},
};

const key = z.string().trim().min(1).max(40);
const value = z.string().trim().min(1).max(200).nullable();
const table = z.record(key, value);
export const lexiconFileSchema = z
  .object({ abbreviations: table.optional(), units: table.optional(), phrases: table.optional() })
  .strict();

/** The built-in lexicon with `patch` applied: entries added, overridden, or removed (null). */
export function mergeLexicon(base: Lexicon, patch: LexiconPatch | undefined): Lexicon {
  if (!patch) return base;
  const merged: Lexicon = {
    abbreviations: { ...base.abbreviations },
    units: { ...base.units },
    phrases: { ...base.phrases },
  };
  for (const t of ['abbreviations', 'units', 'phrases'] as const) {
    for (const [k, v] of Object.entries(patch[t] ?? {})) {
      if (v === null) delete merged[t][k];
      else merged[t][k] = v;
    }
  }
  return merged;
}

export class LexiconError extends Error {
  override name = 'LexiconError';
}

/**
 * Reads a commune's lexicon file (`.json`, or YAML for any other extension) and checks it.
 * Throws LexiconError naming the file and each bad entry.
 */
export function loadLexiconFile(path: string): LexiconPatch {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new LexiconError(`TTS_LEXICON: cannot read ${path} (${(err as Error).message})`);
  }
  const parsed = lexiconFileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(file)'}: ${i.message}`);
    throw new LexiconError(
      `TTS_LEXICON: ${path} is not a valid lexicon (tables abbreviations, units, phrases: "written": "spoken"):\n${lines.join('\n')}`,
    );
  }
  return parsed.data;
}
