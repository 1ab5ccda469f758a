/** Durations and sizes as an officer reads them, through Intl (vi-VN: "1,5 MB", "2:05"). */
import { locale } from '../i18n';

/** m:ss (or h:mm:ss) for a duration in milliseconds; "—" when unknown. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '—';
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Bytes as KB / MB with the locale's decimal mark. */
export function formatSize(bytes: number): string {
  const nf = (n: number, digits: number) =>
    new Intl.NumberFormat(locale.value, { maximumFractionDigits: digits }).format(n);
  if (bytes < 1000) return `${nf(bytes, 0)} B`;
  if (bytes < 1_000_000) return `${nf(bytes / 1000, 1)} KB`;
  return `${nf(bytes / 1_000_000, 1)} MB`;
}

/** Bits per second as kbit/s. */
export const formatBitrate = (bps: number | null): string =>
  bps === null ? '—' : `${new Intl.NumberFormat(locale.value).format(Math.round(bps / 1000))} kbit/s`;

/** Day/month/year and time, e.g. "19:06 03/12/2026" in vi-VN. */
export const formatDateLong = (iso: string): string =>
  new Intl.DateTimeFormat(locale.value, {
    day: '2-digit',
    month: '2-digit',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  }).format(new Date(iso));
