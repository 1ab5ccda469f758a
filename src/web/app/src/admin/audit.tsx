/**
 * Audit (admins): who did what, when, from where — filtered by action, officer and dates, newest
 * first, 50 at a time; the same filter exports as CSV (a plain link: the cookie session downloads it).
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import type { Officer } from '../../../../contract/officer';
import { api, errorText } from '../api';
import { formatDateTime, strings, t } from '../i18n';
import { BackToMore } from '../screens/more';
import { Field } from '../ui/field';
import { Choice, DateRange, FilterBar } from '../ui/filters';
import { Notice } from '../ui/notice';

interface Entry {
  id: number;
  at: string;
  userId: string | null;
  username: string | null;
  action: string;
  subject: string | null;
  ip: string | null;
}

const PAGE = 50;

const s = strings(
  {
    title: 'Nhật ký hệ thống',
    action: 'Việc (ví dụ: login, bulletins)',
    user: 'Cán bộ',
    anyone: 'Mọi người',
    since: 'Từ ngày',
    until: 'Đến hết ngày',
    apply: 'Lọc',
    export: 'Xuất CSV',
    more: 'Xem thêm',
    none: 'Không có dòng nào khớp bộ lọc.',
    from: 'từ {ip}',
    login: 'Đăng nhập ({via})',
    refused: 'Đăng nhập bị từ chối: {why}',
    setup: 'Thiết lập lần đầu: tạo quản trị viên',
    setupRefused: 'Thiết lập lần đầu bị từ chối: {why}',
    'via.cookie': 'ứng dụng',
    'via.bearer': 'API',
    'why.bad_credentials': 'sai mật khẩu',
    'why.locked_here': 'tạm dừng từ địa chỉ này',
    'why.account_locked': 'tài khoản tạm khoá',
    'why.account_disabled': 'tài khoản đã khoá',
    'why.bad_setup_code': 'sai mã thiết lập',
    'why.already_set_up': 'đã thiết lập rồi',
  },
  {
    title: 'Audit log',
    action: 'Action (e.g. login, bulletins)',
    user: 'Officer',
    anyone: 'Everyone',
    since: 'From',
    until: 'Until the end of',
    apply: 'Filter',
    export: 'Export CSV',
    more: 'Show more',
    none: 'No line matches the filter.',
    from: 'from {ip}',
    login: 'Logged in ({via})',
    refused: 'Login refused: {why}',
    setup: 'First set-up: admin created',
    setupRefused: 'First set-up refused: {why}',
    'via.cookie': 'app',
    'via.bearer': 'API',
    'why.bad_credentials': 'wrong password',
    'why.locked_here': 'paused from this address',
    'why.account_locked': 'account locked',
    'why.account_disabled': 'account disabled',
    'why.bad_setup_code': 'wrong set-up code',
    'why.already_set_up': 'already set up',
  },
);

type Key = Parameters<typeof s>[0];
/** The codes that have words above (the rest show as recorded). */
const CODES = new Set<string>([
  'via.cookie',
  'via.bearer',
  'why.bad_credentials',
  'why.locked_here',
  'why.account_locked',
  'why.account_disabled',
  'why.bad_setup_code',
  'why.already_set_up',
]);
const word = (prefix: 'via' | 'why', code: string): string =>
  CODES.has(`${prefix}.${code}`) ? s(`${prefix}.${code}` as Key) : code;

/** The words for the actions an officer reads most (logins, set-up); others as recorded. */
function describe(action: string): string | null {
  let m = /^login \((\w+)\)$/.exec(action);
  if (m) return s('login', { via: word('via', m[1]!) });
  m = /^login refused: (\w+)$/.exec(action);
  if (m) return s('refused', { why: word('why', m[1]!) });
  if (action === 'first-run set-up: admin created') return s('setup');
  m = /^first-run set-up refused: (\w+)$/.exec(action);
  if (m) return s('setupRefused', { why: word('why', m[1]!) });
  return null;
}

/** A date input's day (local midnight on the phone) as an ISO time with its offset. */
function dayStart(day: string, plusDays = 0): string {
  const [y, m, d] = day.split('-').map(Number);
  const at = new Date(y!, m! - 1, d! + plusDays);
  const off = -at.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const hh = String(Math.floor(Math.abs(off) / 60)).padStart(2, '0');
  const mm = String(Math.abs(off) % 60).padStart(2, '0');
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T00:00:00${sign}${hh}:${mm}`;
}

export function Audit() {
  const action = useSignal('');
  const userId = useSignal('');
  const since = useSignal('');
  const until = useSignal('');
  const officers = useSignal<Officer[]>([]);
  const entries = useSignal<Entry[] | null>(null);
  const hasMore = useSignal(false);
  const error = useSignal('');
  const busy = useSignal(false);

  const query = (): URLSearchParams => {
    const q = new URLSearchParams();
    if (action.value.trim()) q.set('action', action.value.trim());
    if (userId.value) q.set('userId', userId.value);
    if (since.value) q.set('since', dayStart(since.value));
    if (until.value) q.set('until', dayStart(until.value, 1));
    return q;
  };

  async function load(append: boolean) {
    busy.value = true;
    error.value = '';
    const q = query();
    q.set('limit', String(PAGE));
    q.set('offset', String(append ? (entries.value?.length ?? 0) : 0));
    try {
      const r = await api<{ items: Entry[] }>('GET', `/api/audit?${q}`);
      entries.value = append ? [...(entries.value ?? []), ...r.items] : r.items;
      hasMore.value = r.items.length === PAGE;
    } catch (err) {
      error.value = errorText(err);
    } finally {
      busy.value = false;
    }
  }

  useEffect(() => {
    void load(false);
    api<{ items: Officer[] }>('GET', '/api/users')
      .then((r) => {
        officers.value = r.items;
      })
      .catch(() => undefined);
  }, []);

  const exportQuery = query();
  exportQuery.set('format', 'csv');
  return (
    <section class="more audit">
      <BackToMore />
      <h1>{s('title')}</h1>
      <FilterBar
        onApply={() => void load(false)}
        apply={s('apply')}
        busy={busy.value}
        csv={{ href: `/api/audit/export?${exportQuery}`, label: s('export') }}
      >
        <Field name="action" label={s('action')} value={action} autocapitalize="none" />
        <Choice
          name="userId"
          label={s('user')}
          value={userId}
          all={s('anyone')}
          options={officers.value.map((o) => ({ value: o.id, label: o.username }))}
        />
        <DateRange from={since} to={until} fromLabel={s('since')} toLabel={s('until')} />
      </FilterBar>
      <Notice error={error.value} />
      {entries.value === null && !error.value && <p>{t('common.loading')}</p>}
      {entries.value?.length === 0 && <p class="muted">{s('none')}</p>}
      <ol class="audit-list">
        {entries.value?.map((e) => (
          <li key={e.id} data-action={e.action}>
            <span class="what">{describe(e.action) ?? e.action}</span>
            {e.subject && <span class="subject">{e.subject}</span>}
            <span class="muted meta">
              {[formatDateTime(e.at), e.username, e.ip ? s('from', { ip: e.ip }) : null]
                .filter(Boolean)
                .join(' · ')}
            </span>
          </li>
        ))}
      </ol>
      {hasMore.value && (
        <button type="button" class="big" disabled={busy.value} onClick={() => void load(true)}>
          {s('more')}
        </button>
      )}
    </section>
  );
}
