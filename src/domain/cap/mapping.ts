/**
 * How a CAP alert becomes a bulletin here: its urgency, severity and certainty → a Circular 39
 * priority and whether it airs at once or waits for an officer; its areas → villages (zones).
 * Built-in defaults work without a file; CAP_MAP names a YAML or JSON file to change them
 * (docs/cap.md shows one). The file is checked with zod when the controller starts.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { type Priority, prioritySchema, zoneIdSchema } from '../../contract/mqtt.js';
import { VOICES } from '../announcements/types.js';
import { slugify } from '../fleet/fleet.js';
import type { Position } from '../fleet/repo.js';
import { contains, parseCircle, parsePolygon } from './geo.js';
import { CAP_CERTAINTIES, CAP_SEVERITIES, CAP_URGENCIES, type CapArea, type CapInfo } from './types.js';

const approvalSchema = z.enum(['wait', 'air']).describe("'wait' for an officer's approval, or 'air' at once");

const ruleSchema = z
  .object({
    urgency: z.array(z.enum(CAP_URGENCIES)).min(1).optional(),
    severity: z.array(z.enum(CAP_SEVERITIES)).min(1).optional(),
    certainty: z.array(z.enum(CAP_CERTAINTIES)).min(1).optional(),
    priority: prioritySchema,
    approval: approvalSchema.optional().describe('overrides `approval` of the priority for this rule'),
  })
  .strict();
export type CapRule = z.infer<typeof ruleSchema>;

/** Zone ids, or "*": every village. */
const zonesSchema = z.union([z.literal('*'), z.array(zoneIdSchema).min(1)]);

/** Extreme and Immediate airs at once; everything else waits for an officer (issue 9). */
export const DEFAULT_RULES: CapRule[] = [
  { urgency: ['Immediate'], severity: ['Extreme'], priority: 'emergency', approval: 'air' },
  { severity: ['Extreme', 'Severe'], priority: 'emergency' },
  { severity: ['Moderate'], priority: 'priority' },
  { priority: 'normal' },
];

export const capMapSchema = z
  .object({
    /** first rule that matches wins; a rule without a field matches any value of it */
    priorities: z.array(ruleSchema).min(1).default(DEFAULT_RULES),
    /** per mapped priority: wait for an officer (default) or air at once */
    approval: z
      .object({ normal: approvalSchema, priority: approvalSchema, emergency: approvalSchema })
      .partial()
      .strict()
      .default({}),
    /** `areaDesc` names (compared without case, accents or punctuation) → zones */
    areaDesc: z.record(z.string().min(1), zonesSchema).default({}),
    /** geocode valueName → value → zones */
    geocode: z.record(z.string().min(1), z.record(z.string().min(1), zonesSchema)).default({}),
    /** an `areaDesc` that is a zone's name or id selects that zone */
    matchZoneNames: z.boolean().default(true),
    /** which `info` to read: the first in one of these languages, else the first */
    languages: z.array(z.string().min(2)).min(1).default(['vi', 'vi-VN']),
    voice: z.enum(VOICES).default('north'),
    repeat: z.number().int().min(1).max(20).optional(),
    gapSeconds: z.number().min(0).max(600).optional(),
    volume: z.number().int().min(0).max(100).optional(),
  })
  .strict();
export type CapMap = z.infer<typeof capMapSchema>;

export const defaultCapMap = (): CapMap => capMapSchema.parse({});

/** The mapping in `path` (YAML or JSON); throws an Error naming every problem. */
export function loadCapMap(path: string): CapMap {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`CAP_MAP ${path}: ${(err as Error).message}`);
  }
  const parsed = capMapSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new Error(`CAP_MAP ${path}:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The priority an info maps to, whether it airs at once, and which rule decided (1-based). */
export function mapPriority(
  info: Pick<CapInfo, 'urgency' | 'severity' | 'certainty'>,
  map: CapMap,
): { priority: Priority; airsAtOnce: boolean; rule: number | null } {
  const index = map.priorities.findIndex(
    (r) =>
      (!r.urgency || r.urgency.includes(info.urgency)) &&
      (!r.severity || r.severity.includes(info.severity)) &&
      (!r.certainty || r.certainty.includes(info.certainty)),
  );
  const rule = map.priorities[index];
  const priority = rule?.priority ?? 'normal';
  const approval = rule?.approval ?? map.approval[priority] ?? 'wait';
  return { priority, airsAtOnce: approval === 'air', rule: rule ? index + 1 : null };
}

/** What the area matcher needs of the fleet. */
export interface AreaFleet {
  zones: { id: string; name: string }[];
  /** adopted receivers that have a position */
  placed: { id: string; zoneId: string; position: Position }[];
}

export interface AreaMatch {
  /** every village */
  all: boolean;
  zones: string[];
  /** how each zone was found, for the officer ("areaDesc 'Thôn 1' → thon-1") */
  reasons: string[];
  /** geometry that could not be read, and mapped zones that do not exist */
  problems: string[];
}

/** The villages an alert's areas cover: by name, by geocode, by receivers inside a polygon or circle. */
export function matchAreas(areas: CapArea[], map: CapMap, fleet: AreaFleet): AreaMatch {
  const known = new Set(fleet.zones.map((z) => z.id));
  const byName = new Map<string, string>();
  if (map.matchZoneNames) {
    for (const z of fleet.zones) {
      byName.set(slugify(z.name), z.id);
      byName.set(slugify(z.id), z.id);
    }
  }
  const descMap = new Map(Object.entries(map.areaDesc).map(([k, v]) => [slugify(k), v]));
  const found = new Set<string>();
  const reasons: string[] = [];
  const problems: string[] = [];
  let all = false;

  const add = (zones: '*' | string[], why: string) => {
    if (zones === '*') {
      all = true;
      reasons.push(`${why} → every village`);
      return;
    }
    const real = zones.filter((z) => known.has(z));
    for (const z of zones.filter((z) => !known.has(z)))
      problems.push(`${why} maps to zone "${z}", which does not exist`);
    for (const z of real) found.add(z);
    if (real.length) reasons.push(`${why} → ${real.join(', ')}`);
  };

  for (const area of areas) {
    // "Thôn 1; Thôn 2" names several places: each part is tried as well as the whole.
    const names = [area.areaDesc, ...area.areaDesc.split(/[;,]/)].map((n) => n.trim()).filter(Boolean);
    for (const name of new Set(names)) {
      const key = slugify(name);
      const mapped = descMap.get(key);
      if (mapped) add(mapped, `areaDesc "${name}"`);
      else if (byName.has(key)) add([byName.get(key)!], `areaDesc "${name}"`);
    }
    for (const g of area.geocodes) {
      const mapped = map.geocode[g.valueName]?.[g.value];
      if (mapped) add(mapped, `geocode ${g.valueName}=${g.value}`);
    }
    const shapes = [
      ...area.polygons.map((p) => ({ what: 'polygon', ...parsePolygon(p) })),
      ...area.circles.map((c) => ({ what: 'circle', ...parseCircle(c) })),
    ];
    for (const s of shapes) {
      if ('error' in s) {
        problems.push(`area "${area.areaDesc}": ${s.error}`);
        continue;
      }
      const inside = fleet.placed.filter((r) => contains(s.shape, r.position));
      const zones = [...new Set(inside.map((r) => r.zoneId))].sort();
      if (zones.length) {
        add(zones, `${s.what} of "${area.areaDesc}" (receivers ${inside.map((r) => r.id).join(', ')})`);
      }
    }
  }
  return { all, zones: all ? [] : [...found].sort(), reasons, problems };
}

/** The info to air: the first in one of `languages` that has text, else the first with text. */
export function pickInfo(infos: CapInfo[], languages: string[]): CapInfo | null {
  const wanted = languages.map((l) => l.toLowerCase());
  const hasText = (i: CapInfo) => Boolean(i.headline || i.description || i.instruction);
  const withText = infos.filter(hasText);
  return withText.find((i) => wanted.includes(i.language.toLowerCase())) ?? withText[0] ?? null;
}

/** Headline, description and instruction as one text to read aloud (each a sentence). */
export function spokenText(info: CapInfo, maxChars: number): { text: string; cut: boolean } {
  const parts: string[] = [];
  for (const p of [info.headline, info.description, info.instruction]) {
    const t = p?.replace(/\s+/g, ' ').trim();
    // A description often repeats its headline: read it once.
    if (!t || parts.some((q) => q.startsWith(t.replace(/[.!?…]$/, '')))) continue;
    parts.push(/[.!?…]$/.test(t) ? t : `${t}.`);
  }
  const text = parts.join(' ');
  if (text.length <= maxChars) return { text, cut: false };
  const head = text.slice(0, maxChars);
  const end = Math.max(head.lastIndexOf('. '), head.lastIndexOf('! '), head.lastIndexOf('? '));
  return { text: end > maxChars / 2 ? head.slice(0, end + 1) : head, cut: true };
}
