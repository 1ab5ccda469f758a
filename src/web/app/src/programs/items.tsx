/** The ordered items of a program in the form: audio of the library, a relay with its fallback, a pause. */
import type { AudioFile, FormItem } from './model';
import { newItem } from './model';
import { w } from './words';

export function ItemsEditor(props: {
  items: FormItem[];
  audio: AudioFile[];
  onChange: (items: FormItem[]) => void;
}) {
  const { items, audio } = props;
  const set = (i: number, patch: Partial<FormItem>) =>
    props.onChange(items.map((x, j) => (j === i ? { ...x, ...patch } : x)));
  const files = (label: string, value: string, onPick: (v: string) => void, none: string) => (
    <label>
      {label}
      <select value={value} onChange={(e) => onPick(e.currentTarget.value)}>
        <option value="">{none}</option>
        {audio.map((a) => (
          <option key={a.id} value={a.id}>
            {a.name}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <fieldset class="items">
      <legend>{w('fItems')}</legend>
      <ol>
        {items.map((it, i) => {
          const n = i + 1;
          return (
            <li key={i} class="item stack" data-item={i}>
              <label>
                {w('itemKind', { n })}
                <select
                  value={it.kind}
                  onChange={(e) => set(i, { kind: e.currentTarget.value as FormItem['kind'] })}
                >
                  <option value="audio">{w('k_audio')}</option>
                  <option value="relay">{w('k_relay')}</option>
                  <option value="pause">{w('k_pause')}</option>
                </select>
              </label>
              {it.kind === 'audio' &&
                files(w('itemAudio'), it.audio, (v) => set(i, { audio: v }), w('chooseAudio'))}
              {it.kind === 'relay' && (
                <>
                  <label>
                    {w('itemUrl')}
                    <input
                      type="url"
                      inputMode="url"
                      autocapitalize="none"
                      value={it.url}
                      placeholder="https://…"
                      onInput={(e) => set(i, { url: e.currentTarget.value })}
                    />
                  </label>
                  <label>
                    {w('itemMinutes')}
                    <input
                      type="number"
                      inputMode="numeric"
                      min={1}
                      max={1440}
                      value={it.minutes}
                      onInput={(e) => set(i, { minutes: e.currentTarget.value })}
                    />
                  </label>
                  {files(w('itemFallback'), it.fallback, (v) => set(i, { fallback: v }), w('noFallback'))}
                </>
              )}
              {it.kind === 'pause' && (
                <label>
                  {w('itemSeconds')}
                  <input
                    type="number"
                    inputMode="numeric"
                    min={1}
                    max={3600}
                    value={it.seconds}
                    onInput={(e) => set(i, { seconds: e.currentTarget.value })}
                  />
                </label>
              )}
              <div class="row">
                {i > 0 && (
                  <button
                    type="button"
                    aria-label={w('moveUp', { n })}
                    onClick={() => {
                      const next = [...items];
                      [next[i - 1], next[i]] = [next[i]!, next[i - 1]!];
                      props.onChange(next);
                    }}
                  >
                    ↑
                  </button>
                )}
                {items.length > 1 && (
                  <button
                    type="button"
                    aria-label={w('removeItem', { n })}
                    onClick={() => props.onChange(items.filter((_, j) => j !== i))}
                  >
                    ✕
                  </button>
                )}
              </div>
            </li>
          );
        })}
      </ol>
      <button type="button" onClick={() => props.onChange([...items, newItem()])}>
        + {w('addItem')}
      </button>
    </fieldset>
  );
}
