/**
 * CAP 1.2 reading and mapping without a controller: the OASIS schema check (libxml2 in wasm), the
 * default priority table, areas to villages (names, geocodes, polygons and circles against
 * receivers' positions), the info and text chosen, and CAP_MAP files good and bad.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distanceKm, parseCircle, parsePolygon } from '../src/domain/cap/geo.js';
import {
  type AreaFleet,
  defaultCapMap,
  loadCapMap,
  mapPriority,
  matchAreas,
  pickInfo,
  spokenText,
} from '../src/domain/cap/mapping.js';
import { createCapParser, parseReferences } from '../src/domain/cap/parse.js';
import type { CapInfo } from '../src/domain/cap/types.js';
import { AppError } from '../src/errors.js';
import { capXml } from './fixtures/cap/build.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/cap/${name}`, import.meta.url), 'utf8');
const parser = createCapParser();
const tmp = mkdtempSync(join(tmpdir(), 'loalang-cap-'));
afterAll(() => {
  parser.close();
  rmSync(tmp, { recursive: true, force: true });
});

function refusal(xml: string): AppError {
  try {
    parser.parse(xml);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('parsed without complaint');
}

describe('reading a CAP 1.2 alert', () => {
  it('reads a valid alert: infos, areas, references', () => {
    const { xml } = capXml({
      identifier: 'A-1',
      msgType: 'Update',
      references: ['canhbao@kttv.gov.vn,A-0,2026-11-25T08:00:00+07:00'],
      infos: [
        { language: 'en-US', headline: 'Typhoon' },
        {
          headline: 'Bão số 9 & lũ',
          description: 'Gió giật cấp 12.',
          expiresInS: 3600,
          areas: [
            { areaDesc: 'Thôn 1', polygons: ['21,105 21,106 22,106 21,105'], circles: ['21.3,105.6 2'] },
          ],
        },
      ],
    });
    const alert = parser.parse(xml);
    expect(alert).toMatchObject({ identifier: 'A-1', msgType: 'Update', status: 'Actual', scope: 'Public' });
    expect(alert.references).toEqual([
      { sender: 'canhbao@kttv.gov.vn', identifier: 'A-0', sent: '2026-11-25T08:00:00+07:00' },
    ]);
    expect(alert.infos).toHaveLength(2);
    expect(alert.infos[1]).toMatchObject({
      language: 'vi-VN',
      headline: 'Bão số 9 & lũ',
      urgency: 'Immediate',
    });
    expect(alert.infos[1]!.areas[0]).toEqual({
      areaDesc: 'Thôn 1',
      polygons: ['21,105 21,106 22,106 21,105'],
      circles: ['21.3,105.6 2'],
      geocodes: [],
    });
  });

  it('refuses a DOCTYPE before parsing (XXE), with 400 doctype_refused', () => {
    const e = refusal(fixture('doctype-xxe.xml'));
    expect([e.statusCode, e.code]).toEqual([400, 'doctype_refused']);
  });

  it('says where XML is not well-formed: 400 invalid_xml with the line', () => {
    const e = refusal(fixture('malformed.xml'));
    expect([e.statusCode, e.code]).toEqual([400, 'invalid_xml']);
    expect(e.details).toMatchObject({ line: 12 });
    expect(e.message).toMatch(/line 12/);
  });

  it("gives the OASIS schema's complaint: 422 cap_schema", () => {
    const e = refusal(fixture('schema-invalid.xml'));
    expect([e.statusCode, e.code]).toEqual([422, 'cap_schema']);
    expect(e.message).toMatch(/severity/);
    expect(e.message).toMatch(/Catastrophic/);
    expect(e.message).toMatch(/line 14/);
    // a missing required element
    const noScope = capXml({ identifier: 'B-1' }).xml.replace('<scope>Public</scope>', '');
    expect(refusal(noScope).message).toMatch(/scope/);
  });

  it('refuses another root or namespace, and encodings other than UTF-8', () => {
    const cap11 = capXml({ identifier: 'C-1' }).xml.replace('cap:1.2', 'cap:1.1');
    expect(refusal(cap11)).toMatchObject({ statusCode: 422, code: 'cap_schema' });
    expect(refusal('<feed xmlns="http://www.w3.org/2005/Atom"/>').message).toMatch(/root element is <feed>/);
    const latin = capXml({ identifier: 'C-2' }).xml.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"');
    expect(refusal(latin)).toMatchObject({ statusCode: 400, code: 'invalid_xml' });
  });

  it('splits references on whitespace, each on its first and last comma', () => {
    expect(parseReferences('a@b,ID-1,2026-01-01T00:00:00+07:00  x,y,z broken')).toEqual([
      { sender: 'a@b', identifier: 'ID-1', sent: '2026-01-01T00:00:00+07:00' },
      { sender: 'x', identifier: 'y', sent: 'z' },
    ]);
  });
});

const info = (over: Partial<CapInfo>): CapInfo => ({
  language: 'vi-VN',
  categories: ['Met'],
  event: 'Bão',
  urgency: 'Expected',
  severity: 'Moderate',
  certainty: 'Likely',
  headline: null,
  description: null,
  instruction: null,
  effective: null,
  onset: null,
  expires: null,
  senderName: null,
  areas: [],
  ...over,
});

describe('mapping', () => {
  const map = defaultCapMap();

  it('default priorities: Extreme + Immediate airs at once as an emergency; everything else waits', () => {
    const cases: [CapInfo['urgency'], CapInfo['severity'], string, boolean][] = [
      ['Immediate', 'Extreme', 'emergency', true],
      ['Expected', 'Extreme', 'emergency', false],
      ['Immediate', 'Severe', 'emergency', false],
      ['Immediate', 'Moderate', 'priority', false],
      ['Future', 'Minor', 'normal', false],
      ['Unknown', 'Unknown', 'normal', false],
    ];
    for (const [urgency, severity, priority, airsAtOnce] of cases) {
      expect(mapPriority(info({ urgency, severity }), map), `${urgency} ${severity}`).toMatchObject({
        priority,
        airsAtOnce,
      });
    }
  });

  it('a per-priority approval and a rule of its own override the defaults', () => {
    const m = { ...map, approval: { priority: 'air' as const } };
    expect(mapPriority(info({ severity: 'Moderate' }), m)).toMatchObject({
      priority: 'priority',
      airsAtOnce: true,
    });
    expect(mapPriority(info({ severity: 'Severe' }), m)).toMatchObject({
      priority: 'emergency',
      airsAtOnce: false,
    });
  });

  const fleet: AreaFleet = {
    zones: [
      { id: 'thon-dong-bua', name: 'Thôn Đồng Bùa' },
      { id: 'thon-go-dau', name: 'Thôn Gò Dẫu' },
      { id: 'thon-ha', name: 'Thôn Hạ' },
    ],
    placed: [
      { id: 'rx-a1', zoneId: 'thon-dong-bua', position: { lat: 21.3, lon: 105.6 } },
      { id: 'rx-a2', zoneId: 'thon-dong-bua', position: { lat: 21.302, lon: 105.601 } },
      { id: 'rx-b1', zoneId: 'thon-go-dau', position: { lat: 21.35, lon: 105.65 } },
    ],
  };

  it('areas: a zone by its name (any case, no accents), a mapped geocode, "*"', () => {
    const m = {
      ...map,
      areaDesc: { 'Xã Hương Đạo': '*' as const },
      geocode: { 'VN-XA': { '09999': ['thon-ha'] } },
    };
    expect(
      matchAreas(
        [{ areaDesc: 'THON DONG BUA; Thôn Gò Dẫu', polygons: [], circles: [], geocodes: [] }],
        m,
        fleet,
      ),
    ).toMatchObject({ all: false, zones: ['thon-dong-bua', 'thon-go-dau'] });
    expect(
      matchAreas(
        [
          {
            areaDesc: 'Somewhere',
            polygons: [],
            circles: [],
            geocodes: [{ valueName: 'VN-XA', value: '09999' }],
          },
        ],
        m,
        fleet,
      ),
    ).toMatchObject({ all: false, zones: ['thon-ha'] });
    expect(
      matchAreas([{ areaDesc: 'xa huong dao', polygons: [], circles: [], geocodes: [] }], m, fleet).all,
    ).toBe(true);
    const none = matchAreas([{ areaDesc: 'Hà Nội', polygons: [], circles: [], geocodes: [] }], m, fleet);
    expect(none).toMatchObject({ all: false, zones: [] });
  });

  it('a polygon or circle selects the villages whose receivers stand inside it', () => {
    const aroundA = '21.29,105.59 21.29,105.61 21.31,105.61 21.31,105.59 21.29,105.59';
    const poly = matchAreas(
      [{ areaDesc: 'vùng 1', polygons: [aroundA], circles: [], geocodes: [] }],
      map,
      fleet,
    );
    expect(poly.zones).toEqual(['thon-dong-bua']);
    expect(poly.reasons[0]).toMatch(/rx-a1, rx-a2/);
    // 1 km around B: A is ~7 km away
    const circle = matchAreas(
      [{ areaDesc: 'vùng 2', polygons: [], circles: ['21.35,105.65 1'], geocodes: [] }],
      map,
      fleet,
    );
    expect(circle.zones).toEqual(['thon-go-dau']);
    const bad = matchAreas(
      [{ areaDesc: 'x', polygons: ['21,105 abc'], circles: ['1 2 3'], geocodes: [] }],
      map,
      fleet,
    );
    expect(bad.zones).toEqual([]);
    expect(bad.problems).toHaveLength(2);
  });

  it('geometry: an unclosed polygon is closed; distances by haversine', () => {
    const p = parsePolygon('21,105 21,106 22,106');
    expect('shape' in p && p.shape.kind === 'polygon' && p.shape.ring.length).toBe(4);
    expect('error' in parsePolygon('21,105 21,106')).toBe(true);
    expect('error' in parseCircle('95,105 1')).toBe(true);
    // Hà Nội → Huế, about 540 km as the crow flies
    expect(distanceKm({ lat: 21.0285, lon: 105.8542 }, { lat: 16.4637, lon: 107.5909 })).toBeCloseTo(540, -1);
  });

  it('reads the Vietnamese info, else the first with text; headline, description and instruction as sentences', () => {
    const en = info({ language: 'en-US', headline: 'Typhoon' });
    const vi = info({
      language: 'vi',
      headline: 'Bão số 9',
      description: 'Bão số 9. Gió mạnh',
      instruction: 'Sơ tán ngay',
    });
    expect(pickInfo([en, vi], map.languages)).toBe(vi);
    expect(pickInfo([en], map.languages)).toBe(en);
    expect(pickInfo([info({ language: 'vi-VN' })], map.languages)).toBeNull();
    expect(spokenText(vi, 5000).text).toBe('Bão số 9. Bão số 9. Gió mạnh. Sơ tán ngay.');
    const long = spokenText(info({ description: 'Câu một. '.repeat(100) }), 100);
    expect(long.cut).toBe(true);
    expect(long.text.length).toBeLessThanOrEqual(100);
    expect(long.text.endsWith('.')).toBe(true);
  });

  it('CAP_MAP: a YAML file changes the defaults; a wrong one is refused with every problem named', () => {
    const good = join(tmp, 'good.yaml');
    writeFileSync(
      good,
      [
        'approval:',
        '  priority: air',
        'areaDesc:',
        '  "Xã Hương Đạo": "*"',
        'geocode:',
        '  VN-XA:',
        '    "09999": [thon-ha]',
        'voice: central',
      ].join('\n'),
    );
    const m = loadCapMap(good);
    expect(m).toMatchObject({ voice: 'central', approval: { priority: 'air' }, matchZoneNames: true });
    expect(m.priorities).toHaveLength(4);
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, 'priorities:\n  - severity: [Huge]\n    priority: urgent\nvoice: robot\nextra: 1\n');
    const message = (() => {
      try {
        loadCapMap(bad);
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    for (const where of ['priorities[0].severity[0]', 'priorities[0].priority', 'voice', '"extra"']) {
      expect(message).toContain(where);
    }
    expect(() => loadCapMap(join(tmp, 'missing.yaml'))).toThrow(/CAP_MAP/);
  });
});
