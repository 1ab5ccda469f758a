/**
 * Create or change a program: its name, villages, recurrence, time and items. While the officer
 * types, the controller plans it (POST /api/programs/preview, nothing saved) and says which other
 * programs it would overlap on the same receivers; each clash needs the commune's order (first,
 * after, skip) before it can be saved. The form is a draft on the phone until the save succeeds.
 */
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { ApiError, api } from '../api';
import { formatDateTime, t } from '../i18n';
import { Notice } from '../ui/notice';
import { ItemsEditor } from './items';
import {
  type AudioFile,
  bodyOf,
  type Clash,
  clock,
  drafts,
  emptyForm,
  formOf,
  missing,
  type Order,
  type Planned,
  type Program,
  type ProgramForm,
  WEEKDAYS,
  type ZoneRef,
} from './model';
import { type Word, w } from './words';

export function Editor(props: { id: string | null; timeZone: string; zones: ZoneRef[] }) {
  const { route } = useLocation();
  const draftId = props.id ?? 'new';
  const form = useSignal<ProgramForm | null>(
    props.id ? drafts.load(draftId) : (drafts.load(draftId) ?? emptyForm(props.timeZone)),
  );
  const program = useSignal<Program | null>(null);
  const audio = useSignal<AudioFile[]>([]);
  const planned = useSignal<Planned[] | null>(null);
  const clashes = useSignal<Clash[]>([]);
  const checking = useSignal(false);
  const error = useSignal('');
  const notice = useSignal('');
  const busy = useSignal(false);
  const seq = useRef(0);

  useEffect(() => {
    api<{ items: AudioFile[] }>('GET', '/api/audio')
      .then((r) => {
        audio.value = r.items;
      })
      .catch(() => undefined);
    if (props.id)
      api<Program>('GET', `/api/programs/${encodeURIComponent(props.id)}`)
        .then((p) => {
          program.value = p;
          if (!form.value && p.body) form.value = formOf(p.body, props.timeZone);
        })
        .catch((err: unknown) => {
          error.value = err instanceof ApiError ? err.message : t('err.network');
        });
  }, [props.id]);

  const f = form.value;
  const why = f ? missing(f) : null;
  // Plan it as typed (debounced): its airings and every overlap, orders not applied.
  const key = f ? JSON.stringify({ ...bodyOf(f), clashes: {} }) : '';
  useEffect(() => {
    if (!f) return;
    if (program.value || !props.id) drafts.save(draftId, f);
    if (why) return;
    const mine = ++seq.current;
    checking.value = true;
    const timer = setTimeout(() => {
      api<{ airings: Planned[]; clashes: Clash[] }>('POST', '/api/programs/preview?days=7', {
        ...bodyOf(f),
        clashes: {},
        ...(props.id ? { id: props.id } : {}),
      })
        .then((r) => {
          if (mine !== seq.current) return;
          planned.value = r.airings;
          clashes.value = r.clashes;
          error.value = '';
        })
        .catch((err: unknown) => {
          if (mine === seq.current) error.value = err instanceof ApiError ? err.message : t('err.network');
        })
        .finally(() => {
          if (mine === seq.current) checking.value = false;
        });
    }, 400);
    return () => clearTimeout(timer);
  }, [key, why]);

  if (!f) return <p>{error.value || t('common.loading')}</p>;
  const patch = (p: Partial<ProgramForm>) => {
    form.value = { ...f, ...p };
  };
  const others = [...new Map(clashes.value.map((c) => [c.programId, c])).values()];
  const unresolved = others.filter((c) => !f.clashes[c.programId]);
  const fromFile = program.value?.source === 'file';

  async function save(e: Event) {
    e.preventDefault();
    if (!f || why || unresolved.length) return;
    busy.value = true;
    error.value = '';
    notice.value = '';
    const body = bodyOf(f);
    try {
      const r = props.id
        ? await api<Program | { approval: unknown }>(
            'PUT',
            `/api/programs/${encodeURIComponent(props.id)}`,
            body,
          )
        : await api<Program | { approval: unknown }>('POST', '/api/programs', body);
      drafts.clear(draftId);
      if ('approval' in r) {
        notice.value = w('filed');
        return;
      }
      route(`/programs/p/${encodeURIComponent(r.id)}`);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'schedule_clash') {
        const d = (err.body as { details?: { clashes?: Clash[] } } | null)?.details;
        clashes.value = d?.clashes ?? clashes.value;
        error.value = w('resolveFirst');
      } else error.value = err instanceof ApiError ? err.message : t('err.network');
    } finally {
      busy.value = false;
    }
  }

  return (
    <form class="editor stack" onSubmit={save} noValidate>
      <h2>{props.id ? w('editTitle') : w('newTitle')}</h2>
      {fromFile && <p class="warn">{w('fromFile', { file: program.value?.sourceFile ?? '' })}</p>}
      <label>
        {w('fTitle')}
        <input
          value={f.title}
          maxLength={120}
          required
          onInput={(e) => patch({ title: e.currentTarget.value })}
        />
      </label>
      <label>
        {w('fPriority')}
        <select
          value={f.priority}
          onChange={(e) => patch({ priority: e.currentTarget.value as ProgramForm['priority'] })}
        >
          <option value="normal">{w('p_normal')}</option>
          <option value="priority">{w('p_priority')}</option>
          <option value="emergency">{w('p_emergency')}</option>
        </select>
      </label>
      <fieldset class="checks">
        <legend>{w('fTarget')}</legend>
        <label class="check">
          <input type="checkbox" checked={f.all} onChange={(e) => patch({ all: e.currentTarget.checked })} />
          {w('allVillages')}
        </label>
        {!f.all &&
          props.zones.map((z) => (
            <label class="check" key={z.id}>
              <input
                type="checkbox"
                checked={f.zones.includes(z.id)}
                onChange={(e) =>
                  patch({
                    zones: e.currentTarget.checked ? [...f.zones, z.id] : f.zones.filter((x) => x !== z.id),
                  })
                }
              />
              {z.name}
            </label>
          ))}
      </fieldset>
      <fieldset class="checks">
        <legend>{w('fRecurrence')}</legend>
        {(['daily', 'weekly', 'once'] as const).map((k) => (
          <label class="check" key={k}>
            <input type="radio" name="kind" checked={f.kind === k} onChange={() => patch({ kind: k })} />
            {w(`r_${k}`)}
          </label>
        ))}
      </fieldset>
      {f.kind === 'weekly' && (
        <fieldset class="weekdays">
          <legend>{w('fDays')}</legend>
          {WEEKDAYS.map((d) => (
            <label key={d}>
              <input
                type="checkbox"
                checked={f.days.includes(d)}
                onChange={(e) =>
                  patch({ days: e.currentTarget.checked ? [...f.days, d] : f.days.filter((x) => x !== d) })
                }
              />
              {w(`d_${d}`)}
            </label>
          ))}
        </fieldset>
      )}
      <div class="row two">
        <label>
          {w('fAt')}
          <input type="time" value={f.at} required onInput={(e) => patch({ at: e.currentTarget.value })} />
        </label>
        <label>
          {f.kind === 'once' ? w('fOnDate') : w('fFrom')}
          <input
            type="date"
            value={f.from}
            required
            onInput={(e) => patch({ from: e.currentTarget.value })}
          />
        </label>
      </div>
      {f.kind !== 'once' && (
        <label>
          {w('fUntil')}
          <input
            type="date"
            value={f.until}
            min={f.from}
            onInput={(e) => patch({ until: e.currentTarget.value })}
          />
        </label>
      )}
      <ItemsEditor items={f.items} audio={audio.value} onChange={(items) => patch({ items })} />

      <section class="plan" aria-live="polite">
        {why && <p class="muted">{w(why as Word)}</p>}
        {!why && checking.value && <p class="muted">{w('checking')}</p>}
        {!why && planned.value && (
          <>
            <h3>{w('preview')}</h3>
            <ul class="planned">
              {planned.value.slice(0, 7).map((a) => (
                <li key={a.at}>
                  {formatDateTime(a.at)} · {clock(a.durationMs)}
                  {a.problems.length > 0 && <span class="warn-text"> · {a.problems.join('; ')}</span>}
                </li>
              ))}
            </ul>
          </>
        )}
        {!why && others.length > 0 && (
          <fieldset class="clashes">
            <legend>{w('clashes')}</legend>
            {others.map((c) => {
              const times = clashes.value.filter((x) => x.programId === c.programId);
              return (
                <div key={c.programId} class="clash" data-clash={c.programId}>
                  <p>
                    {times.slice(0, 3).map((x) => (
                      <span key={x.at} class="block">
                        {w('clashWith', { title: c.title, at: formatDateTime(x.at) })}
                      </span>
                    ))}
                  </p>
                  <label>
                    {w('orderFor', { title: c.title })}
                    <select
                      value={f.clashes[c.programId] ?? ''}
                      onChange={(e) => {
                        const v = e.currentTarget.value as Order | '';
                        const next = { ...f.clashes };
                        if (v) next[c.programId] = v;
                        else delete next[c.programId];
                        patch({ clashes: next });
                      }}
                    >
                      <option value="">{w('chooseOrder')}</option>
                      <option value="first">{w('o_first')}</option>
                      <option value="after">{w('o_after', { title: c.title })}</option>
                      <option value="skip">{w('o_skip')}</option>
                    </select>
                  </label>
                </div>
              );
            })}
          </fieldset>
        )}
      </section>

      <Notice error={error.value} done={notice.value} />
      {!why && unresolved.length > 0 && <p class="muted">{w('resolveFirst')}</p>}
      <button
        type="submit"
        class="primary big"
        disabled={busy.value || fromFile || Boolean(why) || unresolved.length > 0}
      >
        {t('common.save')}
      </button>
      <p class="muted small">{w('draftKept')}</p>
      <button
        type="button"
        class="link"
        onClick={() => {
          drafts.clear(draftId);
          form.value = program.value?.body
            ? formOf(program.value.body, props.timeZone)
            : emptyForm(props.timeZone);
        }}
      >
        {w('discard')}
      </button>
    </form>
  );
}
