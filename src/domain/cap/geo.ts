/**
 * CAP geometry against receivers' positions. CAP writes points as "lat,lon" in WGS 84 (§3.2.4,
 * polygon: four or more points, the first and last the same; circle: "lat,lon radius" with the
 * radius in kilometres); GeoJSON, which turf reads, writes [lon, lat].
 */
import { booleanPointInPolygon } from '@turf/boolean-point-in-polygon';
import { polygon as turfPolygon } from '@turf/helpers';
import type { Position } from '../fleet/repo.js';

export type Shape =
  | { kind: 'polygon'; ring: [number, number][] }
  | { kind: 'circle'; center: Position; radiusKm: number };

function point(text: string): Position | null {
  const m = /^\s*([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)\s*$/.exec(text);
  if (!m) return null;
  const lat = Number(m[1]);
  const lon = Number(m[2]);
  if (!(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180)) return null;
  return { lat, lon };
}

/** A CAP polygon, or the reason it cannot be one. */
export function parsePolygon(text: string): { shape: Shape } | { error: string } {
  const pairs = text.trim().split(/\s+/);
  const points = pairs.map(point);
  const bad = points.indexOf(null);
  if (bad >= 0) return { error: `polygon point "${pairs[bad]}" is not "lat,lon"` };
  const ring = (points as Position[]).map((p): [number, number] => [p.lon, p.lat]);
  const first = ring[0];
  const last = ring[ring.length - 1];
  // The standard wants it closed; a sender that forgot is closed for them.
  if (first && last && (first[0] !== last[0] || first[1] !== last[1])) ring.push([first[0], first[1]]);
  if (ring.length < 4) return { error: 'a polygon needs at least three distinct points' };
  return { shape: { kind: 'polygon', ring } };
}

/** A CAP circle, or the reason it cannot be one. */
export function parseCircle(text: string): { shape: Shape } | { error: string } {
  const m = /^\s*(\S+)\s+(\d+(?:\.\d+)?)\s*$/.exec(text);
  const center = m ? point(m[1]!) : null;
  if (!m || !center) return { error: `circle "${text.trim()}" is not "lat,lon radius"` };
  return { shape: { kind: 'circle', center, radiusKm: Number(m[2]) } };
}

const EARTH_RADIUS_KM = 6371.0088;
const rad = (deg: number) => (deg * Math.PI) / 180;

/** Great-circle distance (haversine), in kilometres. */
export function distanceKm(a: Position, b: Position): number {
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Whether `p` lies in the shape (a point on a polygon's edge counts as inside). */
export function contains(shape: Shape, p: Position): boolean {
  if (shape.kind === 'circle') return distanceKm(shape.center, p) <= shape.radiusKm;
  return booleanPointInPolygon([p.lon, p.lat], turfPolygon([shape.ring]));
}
