/**
 * A QR code of a text, drawn as one SVG path (crisp when printed or zoomed) inside the quiet zone
 * of four light modules the standard asks for (ISO/IEC 18004 §9.1). The encoder (uqr) is imported
 * only when a code is drawn, so it is no part of the app's first load.
 *
 * Error correction M (15 % of the code may be lost: glare on a phone screen, a crease in paper)
 * when the text fits in a QR code at that level, else L (7 %). A provisioning bundle (~870 bytes
 * of JSON) is a version 24 code at M: 113 modules, about 3 CSS pixels each on a 360 px phone.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';

const QUIET = 4;
const LEVELS = ['M', 'L'] as const;

interface Drawn {
  /** modules per side, without the quiet zone */
  size: number;
  version: number;
  ecc: (typeof LEVELS)[number];
  /** one `M x y h n v1 h-n z` per run of dark modules in a row */
  path: string;
}

/** The SVG path of a module matrix (true: dark), runs of a row merged into one rectangle. */
function pathOf(rows: boolean[][]): string {
  const parts: string[] = [];
  rows.forEach((row, y) => {
    for (let x = 0; x < row.length; x++) {
      if (!row[x]) continue;
      const start = x;
      while (row[x + 1]) x++;
      parts.push(`M${start + QUIET} ${y + QUIET}h${x - start + 1}v1h${start - x - 1}z`);
    }
  });
  return parts.join('');
}

async function draw(text: string): Promise<Drawn | null> {
  const { encode } = await import('uqr');
  for (const ecc of LEVELS) {
    try {
      const qr = encode(text, { ecc, border: 0 });
      return { size: qr.size, version: qr.version, ecc, path: pathOf(qr.data) };
    } catch (err) {
      // RangeError "Data too long": try the next, lower level
      if (!(err instanceof RangeError)) throw err;
    }
  }
  return null;
}

/**
 * The code of `text`, labelled `label` for screen readers; `tooLong` or `failed` (the encoder
 * could not be loaded) is said in its place when there is no code to show.
 */
export function QrCode(props: { text: string; label: string; tooLong: string; failed: string }) {
  const drawn = useSignal<Drawn | null | 'too-long' | 'failed'>(null);
  useEffect(() => {
    let live = true;
    draw(props.text)
      .then((d) => {
        if (live) drawn.value = d ?? 'too-long';
      })
      .catch(() => {
        if (live) drawn.value = 'failed';
      });
    return () => {
      live = false;
    };
  }, [props.text]);
  const d = drawn.value;
  if (d === null) return null;
  if (d === 'too-long' || d === 'failed')
    return <p class="warn">{d === 'too-long' ? props.tooLong : props.failed}</p>;
  const side = d.size + 2 * QUIET;
  return (
    <svg
      class="qr"
      role="img"
      aria-label={props.label}
      viewBox={`0 0 ${side} ${side}`}
      shape-rendering="crispEdges"
      data-version={d.version}
      data-ecc={d.ecc}
    >
      <rect width={side} height={side} fill="#fff" />
      <path d={d.path} fill="#000" />
    </svg>
  );
}
