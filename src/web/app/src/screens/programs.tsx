/**
 * Programs (Lịch phát): the week of airings, the programs, one program, its editor, and the
 * as-run log, as tabs of one screen. Paths: /programs (week), /programs/list, /programs/new,
 * /programs/p/:id, /programs/edit/:id, /programs/asrun.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { ApiError, api, hasRole } from '../api';
import { AsRun } from '../asrun/asrun';
import { t } from '../i18n';
import { Calendar } from '../programs/calendar';
import { Editor } from '../programs/editor';
import { ProgramList, ProgramPage } from '../programs/list';
import { loadReceivers, loadZones, type Program, type ReceiverRef, type ZoneRef } from '../programs/model';
import { w } from '../programs/words';
import { Notice } from '../ui/notice';
import '../programs/programs.css';

const TABS = [
  { href: '/programs', key: 'tabCalendar' },
  { href: '/programs/list', key: 'tabPrograms' },
  { href: '/programs/asrun', key: 'tabAsrun' },
] as const;

export function Programs() {
  const { path } = useLocation();
  const parts = path.replace(/\/+$/, '').split('/').slice(2).map(decodeURIComponent);
  const [view = '', id = ''] = parts;
  const timeZone = useSignal<string | null>(null);
  const programs = useSignal<Program[] | null>(null);
  const zones = useSignal<ZoneRef[]>([]);
  const receivers = useSignal<ReceiverRef[]>([]);
  const error = useSignal('');
  useEffect(() => {
    Promise.all([
      api<{ items: Program[]; timeZone: string }>('GET', '/api/programs'),
      loadZones(),
      loadReceivers(),
    ])
      .then(([p, z, r]) => {
        programs.value = p.items;
        timeZone.value = p.timeZone;
        zones.value = z;
        receivers.value = r.filter((x) => x.adoption === 'adopted');
        error.value = '';
      })
      .catch((err: unknown) => {
        error.value = err instanceof ApiError ? err.message : t('err.network');
      });
  }, [path]);
  const tab = view === 'asrun' ? '/programs/asrun' : view === '' ? '/programs' : '/programs/list';
  const tz = timeZone.value;
  const common = { zones: zones.value, receivers: receivers.value };
  return (
    <section class="programs-screen">
      <h1>{view === 'asrun' ? w('asrunTitle') : w('title')}</h1>
      <nav class="tabs" aria-label={w('title')}>
        {TABS.map((x) => (
          <a key={x.href} href={x.href} aria-current={tab === x.href ? 'page' : undefined}>
            {w(x.key)}
          </a>
        ))}
      </nav>
      <Notice error={error.value} />
      {!tz && !error.value && <p>{t('common.loading')}</p>}
      {tz && view === '' && (
        <>
          {hasRole('editor', 'operator') && (
            <a class="button primary big" href="/programs/new">
              + {w('newProgram')}
            </a>
          )}
          <Calendar timeZone={tz} {...common} />
        </>
      )}
      {tz && view === 'list' && <ProgramList programs={programs.value} />}
      {tz && view === 'new' && <Editor id={null} timeZone={tz} zones={zones.value} />}
      {tz && view === 'edit' && id && <Editor key={id} id={id} timeZone={tz} zones={zones.value} />}
      {tz && view === 'p' && id && <ProgramPage key={id} id={id} {...common} />}
      {tz && view === 'asrun' && <AsRun timeZone={tz} {...common} />}
    </section>
  );
}
