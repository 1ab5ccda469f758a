/**
 * Vietnamese text normalisation: the table of what an officer types and what the voice must say.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { BUILTIN_LEXICON, LexiconError, loadLexiconFile, mergeLexicon } from '../src/domain/tts/lexicon.js';
import { createNormaliser, normaliseVi } from '../src/domain/tts/normalise.js';
import { readInteger } from '../src/domain/tts/numbers.js';

describe('cardinal numbers (Northern)', () => {
  it.each([
    ['0', 'không'],
    ['5', 'năm'],
    ['10', 'mười'],
    ['11', 'mười một'],
    ['15', 'mười lăm'],
    ['20', 'hai mươi'],
    ['21', 'hai mươi mốt'],
    ['24', 'hai mươi bốn'],
    ['25', 'hai mươi lăm'],
    ['101', 'một trăm linh một'],
    ['105', 'một trăm linh năm'],
    ['110', 'một trăm mười'],
    ['115', 'một trăm mười lăm'],
    ['121', 'một trăm hai mươi mốt'],
    ['1000', 'một nghìn'],
    ['1005', 'một nghìn không trăm linh năm'],
    ['1050', 'một nghìn không trăm năm mươi'],
    ['2026', 'hai nghìn không trăm hai mươi sáu'],
    ['1000500', 'một triệu năm trăm'],
    ['1500000000', 'một tỷ năm trăm triệu'],
    ['2000000000000', 'hai nghìn tỷ'],
    ['007', 'không không bảy'],
  ])('%s → %s', (digits, spoken) => {
    expect(readInteger(digits)).toBe(spoken);
  });

  it('Southern voice says "lẻ" and "ngàn"', () => {
    expect(readInteger('105', 'south')).toBe('một trăm lẻ năm');
    expect(readInteger('1005', 'south')).toBe('một ngàn không trăm lẻ năm');
    expect(normaliseVi('105 hộ', undefined, { dialect: 'south' })).toBe('một trăm lẻ năm hộ');
  });
});

describe('normaliseVi', () => {
  it.each([
    // numbers as written: thousands dots, decimal commas, negatives
    ['1.000 đồng', 'một nghìn đồng'],
    ['1.000.000', 'một triệu'],
    ['3.000.000.000 đồng', 'ba tỷ đồng'],
    ['2,5', 'hai phẩy năm'],
    ['mực nước 2,35 m', 'mực nước hai phẩy ba mươi lăm mét'],
    ['0,05', 'không phẩy không năm'],
    ['1.234,5 kg', 'một nghìn hai trăm ba mươi bốn phẩy năm ki lô gam'],
    ['âm: -5', 'âm: âm năm'],
    ['bão số 3', 'bão số ba'],
    // dates
    ['25/11', 'ngày hai mươi lăm tháng mười một'],
    ['ngày 25/11', 'ngày hai mươi lăm tháng mười một'],
    ['25/11/2026', 'ngày hai mươi lăm tháng mười một năm hai nghìn không trăm hai mươi sáu'],
    ['Ngày 05/11', 'Ngày năm tháng mười một'],
    ['ngày 30/4', 'ngày ba mươi tháng tư'],
    ['25-11-2026', 'ngày hai mươi lăm tháng mười một năm hai nghìn không trăm hai mươi sáu'],
    ['25.11.2026', 'ngày hai mươi lăm tháng mười một năm hai nghìn không trăm hai mươi sáu'],
    ['từ 25-27/11', 'từ ngày hai mươi lăm đến ngày hai mươi bảy tháng mười một'],
    ['tháng 11/2026', 'tháng mười một năm hai nghìn không trăm hai mươi sáu'],
    ['32/13', 'ba mươi hai trên mười ba'],
    // times
    ['14h30', 'mười bốn giờ ba mươi phút'],
    ['14:30', 'mười bốn giờ ba mươi phút'],
    ['lúc 7h', 'lúc bảy giờ'],
    ['14h00', 'mười bốn giờ'],
    ['7g30', 'bảy giờ ba mươi phút'],
    ['14:30:15', 'mười bốn giờ ba mươi phút mười lăm giây'],
    ['7h-11h30', 'từ bảy giờ đến mười một giờ ba mươi phút'],
    ['trong 24h qua', 'trong hai mươi bốn giờ qua'],
    // units
    ['120 km/h', 'một trăm hai mươi ki lô mét trên giờ'],
    ['cách 30km', 'cách ba mươi ki lô mét'],
    ['200 mm', 'hai trăm mi li mét'],
    ['5 cm', 'năm xen ti mét'],
    ['-2°C', 'âm hai độ xê'],
    ['37,5 °C', 'ba mươi bảy phẩy năm độ xê'],
    ['85%', 'tám mươi lăm phần trăm'],
    ['2,5 ha', 'hai phẩy năm héc ta'],
    ['500g gạo', 'năm trăm gam gạo'],
    ['xả 1.200 m3/s', 'xả một nghìn hai trăm mét khối trên giây'],
    ['12.500đ', 'mười hai nghìn năm trăm đồng'],
    // ranges
    ['100-150mm', 'từ một trăm đến một trăm năm mươi mi li mét'],
    ['từ 10-15%', 'từ mười đến mười lăm phần trăm'],
    ['giật cấp 8-9', 'giật cấp tám đến cấp chín'],
    ['100 – 150 mm', 'từ một trăm đến một trăm năm mươi mi li mét'],
    // phone numbers, digit by digit in their groups
    ['0912 345 678', 'không chín một hai, ba bốn năm, sáu bảy tám'],
    ['0912.345.678', 'không chín một hai, ba bốn năm, sáu bảy tám'],
    ['0912345678', 'không chín một hai, ba bốn năm, sáu bảy tám'],
    ['024 3825 1234', 'không hai bốn, ba tám hai năm, một hai ba bốn'],
    ['+84 912 345 678', 'cộng tám bốn, chín một hai, ba bốn năm, sáu bảy tám'],
    ['1900 1234', 'một chín không không, một hai ba bốn'],
    ['gọi 114', 'gọi một một bốn'],
    // abbreviations
    ['UBND xã', 'ủy ban nhân dân xã'],
    ['HĐND huyện', 'hội đồng nhân dân huyện'],
    ['TP. Huế', 'thành phố Huế'],
    ['TP.HCM', 'thành phố Hồ Chí Minh'],
    ['TT Phố Lu', 'thị trấn Phố Lu'],
    ['BCH PCTT&TKCN', 'ban chỉ huy phòng chống thiên tai và tìm kiếm cứu nạn'],
    ['MTTQ, CAND', 'mặt trận tổ quốc, công an nhân dân'],
    ['THCS và THPT', 'trung học cơ sở và trung học phổ thông'],
    ['UBND-HĐND', 'ủy ban nhân dân, hội đồng nhân dân'],
    ['QL1A', 'quốc lộ một A'],
    ['(UBND)', '(ủy ban nhân dân)'],
    // words that numbers change
    ['thứ 4, tháng 4', 'thứ tư, tháng tư'],
    ['Thứ 7 và CN', 'Thứ bảy và chủ nhật'],
    ['lần thứ 1', 'lần thứ nhất'],
    // what stays as it is
    ['Đề nghị bà con sơ tán.', 'Đề nghị bà con sơ tán.'],
    ['UBNDX', 'UBNDX'],
    ['  nhiều   khoảng  trắng ', 'nhiều khoảng trắng'],
  ])('%s → %s', (written, spoken) => {
    expect(normaliseVi(written)).toBe(spoken);
  });

  it('reads the alert of issue 9 without a digit or an abbreviation left', () => {
    const spoken = normaliseVi(
      'Thông báo khẩn: bão số 3 đổ bộ lúc 14h30 ngày 25/11, gió giật 120 km/h, đề nghị bà con sơ tán.',
    );
    expect(spoken).toBe(
      'Thông báo khẩn: bão số ba đổ bộ lúc mười bốn giờ ba mươi phút ngày hai mươi lăm tháng mười một, ' +
        'gió giật một trăm hai mươi ki lô mét trên giờ, đề nghị bà con sơ tán.',
    );
    expect(spoken).not.toMatch(/\d/);
  });
});

describe('a commune extends the table', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-lexicon-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('adds, overrides and removes entries from a YAML file', () => {
    const file = join(dir, 'lexicon.yaml');
    writeFileSync(
      file,
      [
        'abbreviations:',
        '  HTX: hợp tác xã nông nghiệp', // override
        '  BQLDA: ban quản lý dự án', // new
        '  TT: null', // removed: here TT means "thông tư" in some texts, left as written
        'units:',
        '  sào: sào', // a local unit of area
        'phrases:',
        '  Hương Đạo: Hương Đạo', // a place name said as is
        '  lũ ống: lũ ống, lũ quét', // said more clearly
      ].join('\n'),
    );
    const normalise = createNormaliser(mergeLexicon(BUILTIN_LEXICON, loadLexiconFile(file)));
    expect(normalise('HTX và BQLDA, TT 39')).toBe(
      'hợp tác xã nông nghiệp và ban quản lý dự án, TT ba mươi chín',
    );
    expect(normalise('3 sào ruộng')).toBe('ba sào ruộng');
    expect(normalise('cảnh báo Lũ ống')).toBe('cảnh báo lũ ống, lũ quét');
    // the built-in table is not changed by a commune's file
    expect(normaliseVi('TT Phố Lu')).toBe('thị trấn Phố Lu');
    expect(normaliseVi('BQLDA', { abbreviations: { BQLDA: 'ban quản lý dự án' } })).toBe('ban quản lý dự án');
  });

  it('reads JSON too', () => {
    const file = join(dir, 'lexicon.json');
    writeFileSync(file, JSON.stringify({ abbreviations: { KDC: 'khu dân cư' } }));
    expect(createNormaliser(mergeLexicon(BUILTIN_LEXICON, loadLexiconFile(file)))('KDC số 2')).toBe(
      'khu dân cư số hai',
    );
  });

  it('refuses a bad file with a message naming it and the bad entry; config refuses to start', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'abbreviations:\n  UBND: 5\nunit:\n  x: y\n');
    expect(() => loadLexiconFile(file)).toThrow(LexiconError);
    expect(() => loadLexiconFile(file)).toThrow(/bad\.yaml is not a valid lexicon[\s\S]*abbreviations\.UBND/);
    expect(() => loadLexiconFile(join(dir, 'missing.yaml'))).toThrow(/cannot read .*missing\.yaml/);
    expect(() => loadConfig({ TTS_LEXICON: file })).toThrow(
      /TTS_LEXICON: .*bad\.yaml is not a valid lexicon/,
    );
  });
});
