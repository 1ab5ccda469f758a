/**
 * The programs with their next airings, one program's page (next airings, readiness of the next
 * one per village, edit, delete), and the programs waiting for an approver.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api, hasRole } from '../api';
import { formatDateTime, t } from '../i18n';
import type { Approval } from '../types';
import { Notice } from '../ui/notice';
import { Readiness } from './calendar';
import {
  type Airing,
  clock,
  loadWeek,
  type Program,
  type ReceiverRef,
  villageNames,
  type ZoneRef,
} from './model';
import { errorText, type Word, w } from './words';

export function ProgramList(props: { programs: Program[] | null }) {
  return (
    <div class="program-list">
      {hasRole('editor', 'operator') && (
        <a class="button primary big" href="/programs/new">
          + {w('newProgram')}
        </a>
      )}
      <Approvals />
      {props.programs === null && <p>{t('common.loading')}</p>}
      {props.programs?.length === 0 && <p class="muted">{w('noPrograms')}</p>}
      <ul class="cards">
        {props.programs?.map((p) => (
          <li key={p.id} class="card" data-program={p.id}>
            <a class="card-link" href={`/programs/p/${encodeURIComponent(p.id)}`}>
              <h2>{p.title}</h2>
            </a>
            <ul class="next">
              {(p.next ?? []).map((a) => (
                <li key={a.id}>{formatDateTime(a.at)}</li>
              ))}
              {(p.next ?? []).length === 0 && <li class="muted">{w('noNext')}</li>}
            </ul>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function ProgramPage(props: { id: string; zones: ZoneRef[]; receivers: ReceiverRef[] }) {
  const { route } = useLocation();
  const program = useSignal<Program | null>(null);
  const week = useSignal<Airing[]>([]);
  const error = useSignal('');
  useEffect(() => {
    Promise.all([api<Program>('GET', `/api/programs/${encodeURIComponent(props.id)}`), loadWeek(props.id)])
      .then(([p, airings]) => {
        program.value = p;
        week.value = airings.filter((a) => a.status === 'scheduled' && Date.parse(a.windowEnd) > Date.now());
      })
      .catch((err: unknown) => {
        error.value = errorText(err);
      });
  }, [props.id]);
  const p = program.value;
  if (!p)
    return error.value ? (
      <p role="alert" class="error">
        {error.value}
      </p>
    ) : (
      <p>{t('common.loading')}</p>
    );
  const next = week.value;
  const firstSent = next.find((a) => !a.planned);
  async function remove() {
    if (!p || !confirm(w('confirmRemove', { title: p.title }))) return;
    try {
      await api('DELETE', `/api/programs/${encodeURIComponent(p.id)}`);
      route('/programs/list');
    } catch (err) {
      error.value = errorText(err);
    }
  }
  return (
    <div class="program-page stack" data-program={p.id}>
      <h2>{p.title}</h2>
      {p.source === 'file' && <p class="warn">{w('fromFile', { file: p.sourceFile ?? '' })}</p>}
      {p.source !== 'file' && hasRole('editor', 'operator') && (
        <a class="button" href={`/programs/edit/${encodeURIComponent(p.id)}`}>
          {w('edit')}
        </a>
      )}
      <h3>{w('nextAirings')}</h3>
      {next.length === 0 && <p class="muted">{w('noNext')}</p>}
      <ol class="next" aria-label={w('nextAirings')}>
        {next.map((a) => (
          <li key={a.id} data-airing={a.id}>
            {formatDateTime(a.at)} · {clock(a.durationMs)}
            {a.suspendedIn.length > 0 &&
              ` · ${w('suspendedIn', { v: villageNames(props.zones, a.suspendedIn) })}`}
            {a.problems.length > 0 && <span class="warn-text"> · {a.problems.join('; ')}</span>}
          </li>
        ))}
      </ol>
      {firstSent && (
        <>
          <h3>{w('readiness')}</h3>
          <Readiness id={firstSent.id} zones={props.zones} receivers={props.receivers} />
        </>
      )}
      <Notice error={error.value} />
      {p.source !== 'file' && hasRole('operator') && (
        <button type="button" class="danger" onClick={() => void remove()}>
          {w('remove')}
        </button>
      )}
    </div>
  );
}

/** Programs filed by editors, for an approver to approve or reject. */
function Approvals() {
  const items = useSignal<Approval[]>([]);
  const error = useSignal('');
  const notice = useSignal('');
  const load = () =>
    api<{ items: Approval[] }>('GET', '/api/approvals?status=pending')
      .then((r) => {
        items.value = r.items.filter((a) => a.kind === 'program');
      })
      .catch(() => undefined);
  useEffect(() => {
    void load();
  }, []);
  if (items.value.length === 0 && !notice.value) return null;
  const may = hasRole('approver', 'operator');
  async function decide(id: string, how: 'approve' | 'reject') {
    try {
      await api('POST', `/api/approvals/${encodeURIComponent(id)}/${how}`, {});
      notice.value = how === 'approve' ? w('approved') : w('rejected');
      error.value = '';
      await load();
    } catch (err) {
      error.value = errorText(err);
    }
  }
  return (
    <section class="approvals card" aria-label={w('approvals')}>
      <h2>{w('approvals')}</h2>
      {notice.value && <p role="status">{notice.value}</p>}
      <Notice error={error.value} />
      <ul>
        {items.value.map((a) => (
          <li key={a.id} class="approval" data-approval={a.id}>
            <strong>{a.title}</strong> <span class="muted">({w(`p_${a.priority}` as Word)})</span>
            <br />
            <span class="muted">
              {w('by', { who: a.createdByName ?? a.createdBy, at: formatDateTime(a.createdAt) })}
            </span>
            {may && (
              <div class="row">
                <button type="button" class="primary" onClick={() => void decide(a.id, 'approve')}>
                  {w('approve')}
                </button>
                <button type="button" onClick={() => void decide(a.id, 'reject')}>
                  {w('reject')}
                </button>
              </div>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
