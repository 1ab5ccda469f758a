/**
 * CAP 1.2 input on real parts: a controller with its embedded broker and a CAP_MAP file,
 * simulated receivers in three villages (real MQTT clients downloading real bytes), some of them
 * with a position, and an alert source posting XML with its own API token (role 'alerter').
 *
 * The text is read by the built-in text-to-speech (eSpeak NG in wasm), so what the receivers play
 * is real speech. The second part runs with TTS_PROVIDER=off: nothing can be read aloud.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, fetchTrustedKeys, startFleet } from '../firmware-sim/index.js';
import { capXml, SENDER } from './fixtures/cap/build.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { addOfficer } from './helpers/officers.js';
import { waitFor } from './helpers/wait.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/cap/${name}`, import.meta.url), 'utf8');
const PASSWORD = 'alert-source-password-1';

const ZONES = [
  { id: 'thon-dong-bua', name: 'Thôn Đồng Bùa' },
  { id: 'thon-go-dau', name: 'Thôn Gò Dẫu' },
  { id: 'thon-ha', name: 'Thôn Hạ' },
];
/** cap-01, cap-02 in Đồng Bùa near A; cap-03, cap-04 in Gò Dẫu near B (~7 km away); Hạ's have no position. */
const POSITIONS: Record<string, { lat: number; lon: number } | null> = {
  'cap-01': { lat: 21.3, lon: 105.6 },
  'cap-02': { lat: 21.302, lon: 105.601 },
  'cap-03': { lat: 21.35, lon: 105.65 },
  'cap-04': { lat: 21.351, lon: 105.652 },
  'cap-05': null,
  'cap-06': null,
};
const RX = Object.keys(POSITIONS);
const AROUND_A = '21.29,105.59 21.29,105.61 21.31,105.61 21.31,105.59 21.29,105.59';

interface CapAlertRow {
  sender: string;
  identifier: string;
  outcome: string;
  detail: string | null;
  announcementId: string | null;
  announcementStatus: string | null;
  receivedBy: string | null;
}
interface CapAnswer {
  duplicate: boolean;
  outcome: string;
  alert: CapAlertRow;
  announcement: {
    id: string;
    status: string;
    source: string;
    title: string;
    text: string | null;
    voice: string | null;
    audioId: string | null;
    bulletinId: string | null;
    approvalId: string | null;
  } | null;
  approvalId: string | null;
  mapped: {
    priority: string;
    airsAtOnce: boolean;
    rule: number | null;
    target: { all?: boolean; zones?: string[] };
    areas: string[];
  } | null;
  warnings: string[];
}
interface ErrorBody {
  error: string;
  message: string;
  details?: unknown;
}

/** Makes an alert-source account and gives it an API token, as an admin does. */
async function alertSource(tc: TestController, username: string): Promise<{ id: string; token: string }> {
  const user = await tc.api<{ id: string }>('POST', '/api/users', {
    username,
    password: PASSWORD,
    roles: ['alerter'],
  });
  expect(user.status).toBe(201);
  const made = await tc.api<{ token: string }>('POST', `/api/users/${user.body.id}/tokens`, {
    name: 'KTTV feed',
  });
  expect(made.status).toBe(201);
  expect(made.body.token).toMatch(/^llt_/);
  return { id: user.body.id, token: made.body.token };
}

async function postCap<T = CapAnswer>(
  tc: TestController,
  token: string,
  xml: string,
  contentType = 'application/cap+xml',
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${tc.url}/api/cap`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
    body: xml,
  });
  return { status: res.status, body: (await res.json()) as T };
}

describe('CAP 1.2 alerts, with speech', () => {
  let tc: TestController;
  let fleet: Fleet;
  let source: { id: string; token: string };
  let operator = '';
  const dir = mkdtempSync(join(tmpdir(), 'loalang-capmap-'));
  const rx = (id: string) => fleet.receivers.find((r) => r.id === id)!;
  const playedCounts = () => new Map(RX.map((id) => [id, rx(id).played.length]));

  beforeAll(async () => {
    const mapFile = join(dir, 'cap-map.yaml');
    writeFileSync(
      mapFile,
      [
        '# Moderate (priority) alerts air at once here; Severe ones wait (the default)',
        'approval:',
        '  priority: air',
        'areaDesc:',
        '  "Xã Hương Đạo": "*"',
        'geocode:',
        '  VN-XA:',
        '    "09999": [thon-ha]',
        'repeat: 1',
        'gapSeconds: 0',
      ].join('\n'),
    );
    // CONFIRM_WINDOW_S=0: each alert is judged alone, so the order of these tests does not matter
    tc = await startTestController({ CAP_MAP: mapFile, CONFIRM_WINDOW_S: '0' });
    for (const z of ZONES) expect((await tc.api('POST', '/api/zones', z)).status).toBe(201);
    for (const [i, id] of RX.entries()) {
      await tc.register(id, ZONES[Math.floor(i / 2)]!.id);
      const position = POSITIONS[id];
      if (position) {
        const patched = await tc.api<{ position: unknown }>('PATCH', `/api/receivers/${id}`, { position });
        expect(patched.status).toBe(200);
        expect(patched.body.position).toEqual(position);
      }
    }
    source = await alertSource(tc, 'kttv');
    operator = await addOfficer(tc, 'truc-ban', ['operator']);
    const trustedKeys = await fetchTrustedKeys(`${tc.url}/api/system/signing-key`);
    fleet = await startFleet({
      count: RX.length,
      idPrefix: 'cap',
      brokerUrl: tc.mqttUrl,
      trustedKeys,
      timeFactor: 0.05,
      configure: (id) => tc.sim(id),
    });
    await Promise.all(fleet.receivers.map((r) => r.waitForConfig((c) => c.adopted)));
    await waitFor('all receivers online', async () => {
      const res = await tc.api<{ receivers: { online: number } }>('GET', '/api/health');
      return res.body.receivers.online === RX.length;
    });
  });

  afterAll(async () => {
    await fleet?.stop();
    await tc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const heardBy = (announcementId: string, total: number) =>
    waitFor(`announcement ${announcementId} heard`, async () => {
      const r = await tc.api<{ complete: boolean; counts: { total: number; heard: number } }>(
        'GET',
        `/api/announcements/${announcementId}`,
      );
      return r.body.complete && r.body.counts.total === total ? r.body : null;
    });
  const alertRow = async (identifier: string) => {
    const list = await tc.api<{ items: CapAlertRow[] }>('GET', '/api/cap?limit=200');
    return list.body.items.find((a) => a.identifier === identifier);
  };
  const announcementStatus = async (id: string) =>
    (await tc.api<{ announcement: { status: string } }>('GET', `/api/announcements/${id}`)).body.announcement
      .status;

  it('Extreme + Immediate with a polygon airs at once, read from the Vietnamese info, only in the villages whose receivers stand inside', async () => {
    const before = playedCounts();
    const { xml } = capXml({
      identifier: 'KTTV-POLY-1',
      infos: [
        {
          language: 'en-US',
          headline: 'Typhoon No. 9',
          areas: [{ areaDesc: 'Area 1', polygons: [AROUND_A] }],
        },
        {
          headline: 'Bão số 9 đổ bộ',
          description: 'Gió giật cấp 12, mưa rất to.',
          instruction: 'Người dân vào nơi trú ẩn an toàn ngay',
          expiresInS: 1800,
          areas: [{ areaDesc: 'Vùng ven sông', polygons: [AROUND_A] }],
        },
      ],
    });
    const res = await postCap(tc, source.token, xml);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      duplicate: false,
      outcome: 'sent',
      mapped: { priority: 'emergency', airsAtOnce: true, rule: 1, target: { zones: ['thon-dong-bua'] } },
    });
    expect(res.body.mapped!.areas[0]).toMatch(/cap-01, cap-02/);
    const announcement = res.body.announcement!;
    // The Vietnamese info, headline + description + instruction, read by the Northern voice.
    expect(announcement).toMatchObject({
      status: 'sent',
      source: 'cap',
      title: 'Bão số 9 đổ bộ',
      text: 'Bão số 9 đổ bộ. Gió giật cấp 12, mưa rất to. Người dân vào nơi trú ẩn an toàn ngay.',
      voice: 'north',
    });
    // real speech: eSpeak takes a few seconds for these 19 words
    const speech = await tc.api<{ durationMs: number }>('GET', `/api/audio/${announcement.audioId}`);
    expect(speech.body.durationMs).toBeGreaterThan(3000);

    await heardBy(announcement.id, 2);
    // What the receivers played: the two inside the polygon, as an emergency; nobody else.
    for (const id of RX) {
      const played = rx(id).played.slice(before.get(id));
      expect(played.length, id).toBe(id === 'cap-01' || id === 'cap-02' ? 1 : 0);
      if (played.length) expect(played[0]!.priority).toBe('emergency');
    }
    // The alert's expiry is the bulletin's.
    const bulletin = await tc.api<{ expiresAt: string }>('GET', `/api/bulletins/${announcement.bulletinId}`);
    const expires = Date.parse(bulletin.body.expiresAt) - Date.now();
    expect(expires).toBeGreaterThan(1700_000);
    expect(expires).toBeLessThanOrEqual(1800_000);
    // Recorded, readable by officers, and in the audit log.
    expect(await alertRow('KTTV-POLY-1')).toMatchObject({
      outcome: 'sent',
      announcementId: announcement.id,
      announcementStatus: 'sent',
      receivedBy: source.id,
    });
    const audit = await tc.api<{ items: { subject: string | null }[] }>(
      'GET',
      `/api/audit?action=${encodeURIComponent('POST /api/cap')}&subject=${encodeURIComponent(`${SENDER},KTTV-POLY-1`)}`,
    );
    expect(audit.body.items).toHaveLength(1);

    // The same identifier again: answered as a duplicate, nothing made or aired twice.
    const bulletinsBefore = (await tc.api<{ total: number }>('GET', '/api/announcements')).body.total;
    const again = await postCap(tc, source.token, xml);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ duplicate: true, outcome: 'sent' });
    expect(again.body.announcement?.id).toBe(announcement.id);
    expect((await tc.api<{ total: number }>('GET', '/api/announcements')).body.total).toBe(bulletinsBefore);
  });

  it('Severe waits for an officer (the default); an operator approves it and the village named by areaDesc hears it', async () => {
    const before = playedCounts();
    const res = await postCap(
      tc,
      source.token,
      capXml({
        identifier: 'KTTV-WAIT-1',
        infos: [
          {
            severity: 'Severe',
            urgency: 'Expected',
            headline: 'Lũ quét',
            areas: [{ areaDesc: 'thôn gò dẫu' }],
          },
        ],
      }).xml,
    );
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      outcome: 'pending',
      mapped: { priority: 'emergency', airsAtOnce: false, target: { zones: ['thon-go-dau'] } },
    });
    const approvalId = res.body.approvalId!;
    const approval = await tc.api<{ reason: string; status: string }>('GET', `/api/approvals/${approvalId}`);
    expect(approval.body).toMatchObject({ reason: 'cap_alert', status: 'pending' });
    expect(res.body.announcement?.bulletinId).toBeNull();

    const approved = await tc.api('POST', `/api/approvals/${approvalId}/approve`, {}, operator);
    expect(approved.status).toBe(200);
    await heardBy(res.body.announcement!.id, 2);
    for (const id of RX) {
      expect(rx(id).played.length - before.get(id)!, id).toBe(id === 'cap-03' || id === 'cap-04' ? 1 : 0);
    }
    expect(await alertRow('KTTV-WAIT-1')).toMatchObject({ outcome: 'pending', announcementStatus: 'sent' });
  });

  it('geocodes and circles map to villages; Moderate (priority) airs at once because CAP_MAP says so', async () => {
    const res = await postCap(
      tc,
      source.token,
      capXml({
        identifier: 'KTTV-GEO-1',
        infos: [
          {
            severity: 'Moderate',
            urgency: 'Expected',
            headline: 'Mưa lớn',
            areas: [
              { areaDesc: 'Xã X', geocodes: [{ valueName: 'VN-XA', value: '09999' }] },
              { areaDesc: 'Điểm đo mưa', circles: ['21.35,105.65 1'] },
            ],
          },
        ],
      }).xml,
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      outcome: 'sent',
      mapped: { priority: 'priority', airsAtOnce: true, target: { zones: ['thon-go-dau', 'thon-ha'] } },
    });
    await heardBy(res.body.announcement!.id, 4);
  });

  it('an Update replaces the alert it references: the old announcement is cancelled, the new one airs', async () => {
    const first = capXml({
      identifier: 'KTTV-UPD-1',
      infos: [{ headline: 'Bão số 10', areas: [{ areaDesc: 'Thôn Đồng Bùa' }] }],
    });
    const a = await postCap(tc, source.token, first.xml);
    expect(a.status).toBe(201);
    const b = await postCap(
      tc,
      source.token,
      capXml({
        identifier: 'KTTV-UPD-2',
        msgType: 'Update',
        references: [first.ref],
        infos: [{ headline: 'Bão số 10 đổi hướng', areas: [{ areaDesc: 'Thôn Hạ' }] }],
      }).xml,
    );
    expect(b.status).toBe(201);
    expect(b.body).toMatchObject({ outcome: 'sent', mapped: { target: { zones: ['thon-ha'] } } });
    expect(b.body.alert.detail).toMatch(/KTTV-UPD-1: announcement .* superseded/);
    expect(await announcementStatus(a.body.announcement!.id)).toBe('cancelled');
    expect(await alertRow('KTTV-UPD-1')).toMatchObject({
      outcome: 'superseded',
      announcementStatus: 'cancelled',
    });
    expect(await announcementStatus(b.body.announcement!.id)).toBe('sent');
  });

  it('a Cancel cancels what aired and withdraws what waits; one from another source leaves them alone', async () => {
    const aired = capXml({
      identifier: 'KTTV-CAN-1',
      infos: [{ headline: 'Sạt lở', areas: [{ areaDesc: 'Thôn Hạ' }] }],
    });
    const waiting = capXml({
      identifier: 'KTTV-CAN-2',
      infos: [{ severity: 'Severe', headline: 'Sạt lở đất', areas: [{ areaDesc: 'Thôn Hạ' }] }],
    });
    const a = await postCap(tc, source.token, aired.xml);
    const w = await postCap(tc, source.token, waiting.xml);
    expect([a.status, w.status]).toEqual([201, 202]);

    // Another alert source may not cancel this one's alerts.
    const other = await alertSource(tc, 'nguon-khac');
    const foreign = await postCap(
      tc,
      other.token,
      capXml({ identifier: 'OTHER-CAN-1', msgType: 'Cancel', references: [aired.ref] }).xml,
    );
    expect(foreign.status).toBe(200);
    expect(foreign.body.outcome).toBe('unknown_reference');
    expect(foreign.body.alert.detail).toMatch(/another account/);
    expect(await announcementStatus(a.body.announcement!.id)).toBe('sent');

    const cancel = await postCap(
      tc,
      source.token,
      capXml({ identifier: 'KTTV-CAN-3', msgType: 'Cancel', references: [aired.ref, waiting.ref] }).xml,
    );
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ outcome: 'cancel_applied', announcement: null });
    expect(await announcementStatus(a.body.announcement!.id)).toBe('cancelled');
    expect(await announcementStatus(w.body.announcement!.id)).toBe('withdrawn');
    const approval = await tc.api<{ status: string }>('GET', `/api/approvals/${w.body.approvalId}`);
    expect(approval.body.status).toBe('withdrawn');
    expect(await alertRow('KTTV-CAN-1')).toMatchObject({ outcome: 'cancelled' });
    expect(await alertRow('KTTV-CAN-2')).toMatchObject({ outcome: 'cancelled' });
  });

  it('Test, Exercise and Draft alerts, Acks, alerts for elsewhere and expired ones are recorded, never aired', async () => {
    const total = (await tc.api<{ total: number }>('GET', '/api/announcements')).body.total;
    const cases: [Parameters<typeof capXml>[0], string][] = [
      [
        {
          identifier: 'KTTV-TEST-1',
          status: 'Test',
          infos: [{ headline: 'Thử', areas: [{ areaDesc: 'Thôn Hạ' }] }],
        },
        'not_actual',
      ],
      [
        {
          identifier: 'KTTV-EXER-1',
          status: 'Exercise',
          infos: [{ headline: 'Diễn tập', areas: [{ areaDesc: 'Thôn Hạ' }] }],
        },
        'not_actual',
      ],
      [{ identifier: 'KTTV-DRAFT-1', status: 'Draft' }, 'not_actual'],
      [
        {
          identifier: 'KTTV-ACK-1',
          msgType: 'Ack',
          references: [`${SENDER},KTTV-POLY-1,2026-11-25T08:00:00+07:00`],
        },
        'recorded',
      ],
      [
        {
          identifier: 'KTTV-ELSE-1',
          infos: [
            {
              headline: 'Bão ở Hà Nội',
              areas: [{ areaDesc: 'Hà Nội', polygons: ['10,100 10,101 11,101 10,100'] }],
            },
          ],
        },
        'no_area',
      ],
      [
        {
          identifier: 'KTTV-OLD-1',
          infos: [{ headline: 'Cũ', expiresInS: -60, areas: [{ areaDesc: 'Thôn Hạ' }] }],
        },
        'expired',
      ],
    ];
    for (const [parts, outcome] of cases) {
      const res = await postCap(tc, source.token, capXml(parts).xml);
      expect(res.status, parts.identifier).toBe(200);
      expect(res.body, parts.identifier).toMatchObject({ outcome, announcement: null });
      expect(await alertRow(parts.identifier)).toMatchObject({ outcome, announcementId: null });
    }
    expect((await alertRow('KTTV-ELSE-1'))?.detail).toMatch(/no village matches/);
    expect((await tc.api<{ total: number }>('GET', '/api/announcements')).body.total).toBe(total);
  });

  it('an alert to every village keeps to the confirmation rule: even Extreme + Immediate waits for an officer', async () => {
    const res = await postCap(
      tc,
      source.token,
      capXml({
        identifier: 'KTTV-ALL-1',
        infos: [{ headline: 'Vỡ đập', areas: [{ areaDesc: 'Xã Hương Đạo' }] }],
      }).xml,
    );
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      outcome: 'pending',
      mapped: { target: { all: true }, airsAtOnce: false },
    });
    expect(res.body.warnings.join(' ')).toMatch(/every village/);
    const approval = await tc.api<{ reason: string }>('GET', `/api/approvals/${res.body.approvalId}`);
    expect(approval.body.reason).toBe('cap_alert');
  });
});

describe('CAP 1.2 alerts: refusals, no speech, the alerter role', () => {
  let tc: TestController;
  let source: { id: string; token: string };
  beforeAll(async () => {
    tc = await startTestController({ CAP_MAX_BYTES: '8192', TTS_PROVIDER: 'off' });
    expect((await tc.api('POST', '/api/zones', ZONES[0])).status).toBe(201);
    source = await alertSource(tc, 'kttv');
  });
  afterAll(async () => {
    await tc?.stop();
  });
  const recorded = async () => (await tc.api<{ total: number }>('GET', '/api/cap')).body.total;

  it('refuses what cannot be read, each with a clear code, and records none of it', async () => {
    const cases: [string, string, number, string, RegExp][] = [
      ['malformed', fixture('malformed.xml'), 400, 'invalid_xml', /line 12/],
      ['DOCTYPE', fixture('doctype-xxe.xml'), 400, 'doctype_refused', /DOCTYPE/],
      ['schema', fixture('schema-invalid.xml'), 422, 'cap_schema', /severity.*Catastrophic/],
      ['no info', fixture('no-info.xml'), 422, 'cap_no_info', /headline, description or instruction/],
      ['no info at all', capXml({ identifier: 'X-1' }).xml, 422, 'cap_no_info', /no <info>/],
      [
        'too large',
        capXml({ identifier: 'X-2', infos: [{ description: 'mưa '.repeat(3000) }] }).xml,
        413,
        'too_large',
        /8192/,
      ],
    ];
    for (const [what, xml, status, code, message] of cases) {
      const res = await postCap<ErrorBody>(tc, source.token, xml);
      expect(res.status, what).toBe(status);
      expect(res.body.error, what).toBe(code);
      expect(res.body.message, what).toMatch(message);
    }
    const json = await postCap<ErrorBody>(tc, source.token, '{"alert":{}}', 'application/json');
    expect([json.status, json.body.error]).toEqual([415, 'unsupported_media_type']);
    const text = await postCap<ErrorBody>(tc, source.token, fixture('no-info.xml'), 'text/xml');
    expect(text.body.error).toBe('cap_no_info');
    expect(await recorded()).toBe(0);
    // every refusal is in the audit log
    const audit = await tc.api<{ items: { detail: string | null }[] }>(
      'GET',
      `/api/audit?action=${encodeURIComponent('cap alert refused')}`,
    );
    expect(audit.body.items.length).toBe(8);
  });

  it('without text-to-speech an alert is recorded as failed and the answer says so; sent again, it is tried again', async () => {
    const { xml } = capXml({
      identifier: 'KTTV-NOTTS-1',
      infos: [{ headline: 'Bão số 9', areas: [{ areaDesc: 'Thôn Đồng Bùa' }] }],
    });
    const res = await postCap<ErrorBody & { details: { outcome: string; alert: CapAlertRow } }>(
      tc,
      source.token,
      xml,
    );
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('tts_unavailable');
    expect(res.body.message).toMatch(/recorded/);
    expect(res.body.details).toMatchObject({
      outcome: 'failed',
      alert: { identifier: 'KTTV-NOTTS-1', outcome: 'failed' },
    });
    const list = await tc.api<{ items: CapAlertRow[] }>('GET', '/api/cap');
    expect(list.body.items[0]).toMatchObject({ identifier: 'KTTV-NOTTS-1', outcome: 'failed' });
    expect(list.body.items[0]!.detail).toMatch(/tts_unavailable/);
    // not a duplicate: it is tried again (and fails again, for the same reason)
    const again = await postCap<ErrorBody>(tc, source.token, xml);
    expect([again.status, again.body.error]).toEqual([503, 'tts_unavailable']);
    expect(await recorded()).toBe(1);
  });

  it('the alerter role may submit alerts and nothing else; it holds no other role', async () => {
    for (const [method, path] of [
      ['GET', '/api/cap'],
      ['GET', '/api/auth/me'],
      ['GET', '/api/announcements'],
      ['GET', '/api/receivers'],
      ['POST', '/api/announcements'],
      ['POST', '/api/auth/tokens'],
      ['POST', '/api/stop'],
    ] as const) {
      const res = await tc.api<ErrorBody>(method, path, method === 'POST' ? {} : undefined, source.token);
      expect([res.status, res.body.error], `${method} ${path}`).toEqual([403, 'forbidden']);
    }
    // an officer may read the alerts but not submit one
    const viewer = await addOfficer(tc, 'xem', ['viewer']);
    expect((await tc.api('GET', '/api/cap', undefined, viewer)).status).toBe(200);
    expect((await postCap<ErrorBody>(tc, viewer, fixture('no-info.xml'))).body.error).toBe('forbidden');
    const mixed = await tc.api<ErrorBody>('POST', '/api/users', {
      username: 'nguon-tron',
      password: PASSWORD,
      roles: ['alerter', 'operator'],
    });
    expect([mixed.status, mixed.body.error]).toEqual([400, 'validation']);
  });
});
