/**
 * Aired / cut / missed per village and day as inline SVG stacked bars: one small chart per
 * village, a bar per local day. No chart library: a few rectangles are lighter on 3G.
 */

import type { AsRunDay } from '../../../../contract/asrun';
import { formatNumber, locale } from '../i18n';
import { w } from '../programs/words';

const PARTS = [
  { key: 'aired', color: '#15803d' },
  { key: 'cut', color: '#a16207' },
  { key: 'missed', color: '#b91c1c' },
] as const;

const W = 320;
const H = 72;
const TOP = 14;
const AXIS = 18;

export function SummaryChart(props: {
  days: AsRunDay[];
  /** the local dates of the period asked for (every day gets its slot, aired or not) */
  range: string[];
  zoneName: (id: string | null) => string;
}) {
  const dates = [
    ...new Set([...(props.range.length <= 14 ? props.range : []), ...props.days.map((d) => d.date)]),
  ].sort();
  const zones = [...new Set(props.days.map((d) => d.zoneId))];
  const max = Math.max(1, ...props.days.map((d) => d.aired + d.cut + d.missed));
  const slot = W / Math.max(dates.length, 1);
  const bar = Math.min(28, slot * 0.7);
  const short = (date: string) =>
    new Intl.DateTimeFormat(locale.value, { day: 'numeric', month: 'numeric', timeZone: 'UTC' }).format(
      new Date(`${date}T12:00:00Z`),
    );
  return (
    <section class="chart" aria-label={w('chart')}>
      <h2>{w('chart')}</h2>
      <p class="legend">
        {PARTS.map((p) => (
          <span key={p.key}>
            <span class="swatch" style={{ background: p.color }} aria-hidden="true" />
            {w(p.key)}
          </span>
        ))}
      </p>
      {zones.map((z) => {
        const rows = props.days.filter((d) => d.zoneId === z);
        const label = props.zoneName(z);
        const text = rows
          .map(
            (d) =>
              `${short(d.date)}: ${w('aired')} ${formatNumber(d.aired)}, ${w('cut')} ${formatNumber(d.cut)}, ${w('missed')} ${formatNumber(d.missed)}`,
          )
          .join('; ');
        return (
          <figure key={z ?? '-'} data-chart-zone={z ?? ''}>
            <figcaption>{label}</figcaption>
            <svg
              viewBox={`0 ${-TOP} ${W} ${H + AXIS + TOP}`}
              width="100%"
              role="img"
              aria-label={`${label}. ${text}`}
            >
              {dates.map((date, i) => {
                const d = rows.find((r) => r.date === date);
                const x = i * slot + (slot - bar) / 2;
                let y = H;
                return (
                  <g key={date}>
                    {d &&
                      PARTS.map((p) => {
                        const h = (d[p.key] / max) * (H - 4);
                        y -= h;
                        return h > 0 ? (
                          <rect
                            key={p.key}
                            x={x}
                            y={y}
                            width={bar}
                            height={h}
                            fill={p.color}
                            data-part={p.key}
                          >
                            <title>{`${w(p.key)}: ${d[p.key]}`}</title>
                          </rect>
                        ) : null;
                      })}
                    {d && d.aired + d.cut + d.missed > 0 && (
                      <text x={x + bar / 2} y={y - 3} text-anchor="middle" font-size="11" fill="#111827">
                        {formatNumber(d.aired + d.cut + d.missed)}
                      </text>
                    )}
                    <text x={x + bar / 2} y={H + 13} text-anchor="middle" font-size="11" fill="#4b5563">
                      {short(date)}
                    </text>
                  </g>
                );
              })}
              <line x1="0" x2={W} y1={H} y2={H} stroke="#9ca3af" />
            </svg>
          </figure>
        );
      })}
    </section>
  );
}
