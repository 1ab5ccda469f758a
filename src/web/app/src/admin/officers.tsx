/**
 * Officers (admins): the accounts with their roles and villages; create one, change roles and
 * villages, unlock after wrong passwords, reset a password, disable or enable.
 */
import { type Signal, useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { Route, Router, useLocation, useRoute } from 'preact-iso';
import { type Officer, ROLES, type Role } from '../../../../contract/officer';
import { ApiError, api, errorText } from '../api';
import { formatDateTime, strings, t } from '../i18n';
import { BackToMore } from '../screens/more';
import type { Zone } from '../types';
import { useAction } from '../ui/action';
import { Field } from '../ui/field';
import { Notice } from '../ui/notice';

const s = strings(
  {
    title: 'Cán bộ',
    add: '+ Thêm cán bộ',
    newTitle: 'Thêm cán bộ',
    back: '‹ Cán bộ',
    username: 'Tên đăng nhập',
    displayName: 'Họ tên (không bắt buộc)',
    password: 'Mật khẩu ban đầu (ít nhất 10 ký tự)',
    roles: 'Vai trò',
    zones: 'Thôn được phụ trách',
    allZones: 'Mọi thôn',
    create: 'Tạo tài khoản',
    save: 'Lưu vai trò và thôn',
    saved: 'Đã lưu.',
    disabled: 'Đã khoá',
    locked: 'Tạm khoá đến {at}',
    noPin: 'Chưa có PIN',
    everyZone: 'Mọi thôn',
    unlock: 'Mở khoá đăng nhập',
    unlocked: 'Đã mở khoá.',
    reset: 'Đặt lại mật khẩu',
    resetLabel: 'Mật khẩu mới (ít nhất 10 ký tự)',
    resetDone: 'Đã đặt lại mật khẩu; các phiên của người này đã kết thúc.',
    disable: 'Khoá tài khoản',
    enable: 'Mở lại tài khoản',
    disabledDone: 'Đã khoá tài khoản.',
    enabledDone: 'Đã mở lại tài khoản.',
    needRole: 'Chọn ít nhất một vai trò.',
    needZone: 'Chọn ít nhất một thôn, hoặc "Mọi thôn".',
    alerterAlone: 'Vai trò "Nguồn cảnh báo" không đi cùng vai trò khác.',
    tooShort: 'Mật khẩu cần ít nhất 10 ký tự.',
    'role.admin': 'Quản trị',
    'role.editor': 'Biên tập',
    'role.approver': 'Phê duyệt',
    'role.operator': 'Vận hành',
    'role.viewer': 'Chỉ xem',
    'role.alerter': 'Nguồn cảnh báo (CAP)',
    'err.username_taken': 'Tên đăng nhập này đã có người dùng. Chọn tên khác.',
    'err.last_admin': 'Đây là quản trị viên cuối cùng phụ trách mọi thôn: hãy tạo quản trị viên khác trước.',
  },
  {
    title: 'Officers',
    add: '+ Add officer',
    newTitle: 'Add officer',
    back: '‹ Officers',
    username: 'Username',
    displayName: 'Full name (optional)',
    password: 'First password (at least 10 characters)',
    roles: 'Roles',
    zones: 'Villages',
    allZones: 'Every village',
    create: 'Create account',
    save: 'Save roles and villages',
    saved: 'Saved.',
    disabled: 'Disabled',
    locked: 'Locked until {at}',
    noPin: 'No PIN',
    everyZone: 'Every village',
    unlock: 'Unlock logins',
    unlocked: 'Unlocked.',
    reset: 'Reset password',
    resetLabel: 'New password (at least 10 characters)',
    resetDone: "Password reset; this officer's sessions have ended.",
    disable: 'Disable account',
    enable: 'Enable account',
    disabledDone: 'Account disabled.',
    enabledDone: 'Account enabled.',
    needRole: 'Choose at least one role.',
    needZone: 'Choose at least one village, or "Every village".',
    alerterAlone: 'The "Alert source" role goes alone.',
    tooShort: 'A password needs at least 10 characters.',
    'role.admin': 'Admin',
    'role.editor': 'Editor',
    'role.approver': 'Approver',
    'role.operator': 'Operator',
    'role.viewer': 'Viewer',
    'role.alerter': 'Alert source (CAP)',
    'err.username_taken': 'This username is taken. Choose another.',
    'err.last_admin': 'This is the last admin with every village: make another admin first.',
  },
);

const message = (err: unknown): string =>
  err instanceof ApiError && (err.code === 'username_taken' || err.code === 'last_admin')
    ? s(`err.${err.code}`)
    : errorText(err);

function useZones(): Signal<Zone[]> {
  const zones = useSignal<Zone[]>([]);
  useEffect(() => {
    api<{ items?: Zone[] } | Zone[]>('GET', '/api/zones')
      .then((z) => {
        zones.value = Array.isArray(z) ? z : (z.items ?? []);
      })
      .catch(() => undefined);
  }, []);
  return zones;
}

/** Roles and villages, shared by the new-officer form and an officer's page. */
function RolesAndZones(props: { roles: Signal<Role[]>; zones: Signal<string[] | null>; all: Zone[] }) {
  const { roles, zones } = props;
  const toggle = <T,>(list: T[], v: T, on: boolean) => (on ? [...list, v] : list.filter((x) => x !== v));
  return (
    <>
      <fieldset class="checks">
        <legend>{s('roles')}</legend>
        {ROLES.map((r) => (
          <label key={r} class="check">
            <input
              type="checkbox"
              name="role"
              value={r}
              checked={roles.value.includes(r)}
              onChange={(e) => {
                roles.value = toggle(roles.value, r, e.currentTarget.checked);
              }}
            />
            {s(`role.${r}`)}
          </label>
        ))}
      </fieldset>
      <fieldset class="checks">
        <legend>{s('zones')}</legend>
        <label class="check">
          <input
            type="checkbox"
            name="allZones"
            checked={zones.value === null}
            onChange={(e) => {
              zones.value = e.currentTarget.checked ? null : [];
            }}
          />
          {s('allZones')}
        </label>
        {props.all.map((z) => (
          <label key={z.id} class="check">
            <input
              type="checkbox"
              name="zone"
              value={z.id}
              checked={zones.value?.includes(z.id) ?? false}
              onChange={(e) => {
                zones.value = toggle(zones.value ?? [], z.id, e.currentTarget.checked);
              }}
            />
            {z.name}
          </label>
        ))}
      </fieldset>
    </>
  );
}

/** What is wrong with a choice of roles and villages, before asking the server. */
function checkChoice(roles: Role[], zones: string[] | null): string {
  if (roles.length === 0) return s('needRole');
  if (roles.includes('alerter') && roles.length > 1) return s('alerterAlone');
  if (zones !== null && zones.length === 0) return s('needZone');
  return '';
}

function zoneNames(o: Officer, all: Zone[]): string {
  if (o.zones === null) return s('everyZone');
  return o.zones.map((id) => all.find((z) => z.id === id)?.name ?? id).join(', ');
}

function List() {
  const officers = useSignal<Officer[] | null>(null);
  const error = useSignal('');
  const zones = useZones();
  useEffect(() => {
    api<{ items: Officer[] }>('GET', '/api/users')
      .then((r) => {
        officers.value = r.items;
      })
      .catch((err: unknown) => {
        error.value = message(err);
      });
  }, []);
  return (
    <section class="more officers">
      <BackToMore />
      <h1>{s('title')}</h1>
      <a class="button primary big" href="/more/officers/new">
        {s('add')}
      </a>
      <Notice error={error.value} />
      {officers.value === null && !error.value && <p>{t('common.loading')}</p>}
      <ul class="cards">
        {officers.value?.map((o) => (
          <li key={o.id} class="card" data-officer={o.username}>
            <a href={`/more/officers/${o.id}`} class="officer-link">
              <strong>{o.displayName ? `${o.displayName} (${o.username})` : o.username}</strong>
              <span class="roles">{o.roles.map((r) => s(`role.${r}`)).join(', ')}</span>
              <span class="muted zones">{zoneNames(o, zones.value)}</span>
              {(o.disabled || o.lockedUntil || !o.hasPin) && (
                <span class="badges">
                  {o.disabled && <span class="badge bad">{s('disabled')}</span>}
                  {o.lockedUntil && (
                    <span class="badge bad">{s('locked', { at: formatDateTime(o.lockedUntil) })}</span>
                  )}
                  {!o.hasPin && <span class="badge">{s('noPin')}</span>}
                </span>
              )}
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Create() {
  const { route } = useLocation();
  const zones = useZones();
  const username = useSignal('');
  const displayName = useSignal('');
  const password = useSignal('');
  const roles = useSignal<Role[]>([]);
  const chosenZones = useSignal<string[] | null>(null);
  const { error, done, busy, run } = useAction(message);
  function submit(e: Event) {
    e.preventDefault();
    const refusal =
      checkChoice(roles.value, chosenZones.value) || (password.value.length < 10 ? s('tooShort') : '');
    void run(refusal, async () => {
      await api('POST', '/api/users', {
        username: username.value.trim(),
        password: password.value,
        roles: roles.value,
        zones: chosenZones.value,
        ...(displayName.value.trim() ? { displayName: displayName.value.trim() } : {}),
      });
      route('/more/officers');
      return '';
    });
  }
  return (
    <section class="more officers">
      <a href="/more/officers" class="more-back">
        {s('back')}
      </a>
      <h1>{s('newTitle')}</h1>
      <form class="stack" onSubmit={submit}>
        <Field
          name="username"
          label={s('username')}
          value={username}
          autocapitalize="none"
          autocomplete="off"
        />
        <Field name="displayName" label={s('displayName')} value={displayName} />
        <Field
          name="password"
          label={s('password')}
          value={password}
          type="password"
          autocomplete="new-password"
        />
        <RolesAndZones roles={roles} zones={chosenZones} all={zones.value} />
        <Notice error={error.value} done={done.value} />
        <button type="submit" class="primary big" disabled={busy.value}>
          {s('create')}
        </button>
      </form>
    </section>
  );
}

function Detail() {
  const { params } = useRoute();
  const id = params.id ?? '';
  const zones = useZones();
  const officer = useSignal<Officer | null>(null);
  const roles = useSignal<Role[]>([]);
  const chosenZones = useSignal<string[] | null>(null);
  const newPassword = useSignal('');
  const { error, done, busy, run } = useAction(message);
  const show = (o: Officer) => {
    officer.value = o;
    roles.value = o.roles;
    chosenZones.value = o.zones;
  };
  useEffect(() => {
    api<Officer>('GET', `/api/users/${encodeURIComponent(id)}`)
      .then(show)
      .catch((err: unknown) => {
        error.value = message(err);
      });
  }, [id]);
  const patch = (body: Record<string, unknown>, words: string, refusal = '') =>
    run(refusal, async () => {
      show(await api<Officer>('PATCH', `/api/users/${encodeURIComponent(id)}`, body));
      return words;
    });
  const o = officer.value;
  return (
    <section class="more officers">
      <a href="/more/officers" class="more-back">
        {s('back')}
      </a>
      <h1>{o ? o.displayName || o.username : s('title')}</h1>
      <Notice error={error.value} done={done.value} />
      {o && (
        <div class="stack">
          <p class="muted">
            {o.username}
            {o.disabled && <span class="badge bad">{s('disabled')}</span>}
            {o.lockedUntil && (
              <span class="badge bad">{s('locked', { at: formatDateTime(o.lockedUntil) })}</span>
            )}
          </p>
          {o.lockedUntil && (
            <button
              type="button"
              class="big"
              disabled={busy.value}
              onClick={() => patch({ unlock: true }, s('unlocked'))}
            >
              {s('unlock')}
            </button>
          )}
          <form
            class="stack card"
            onSubmit={(e) => {
              e.preventDefault();
              const body = { roles: roles.value, zones: chosenZones.value };
              void patch(body, s('saved'), checkChoice(roles.value, chosenZones.value));
            }}
          >
            <RolesAndZones roles={roles} zones={chosenZones} all={zones.value} />
            <button type="submit" class="primary big" disabled={busy.value}>
              {s('save')}
            </button>
          </form>
          <form
            class="stack card"
            onSubmit={async (e) => {
              e.preventDefault();
              const refusal = newPassword.value.length < 10 ? s('tooShort') : '';
              if (await patch({ password: newPassword.value }, s('resetDone'), refusal))
                newPassword.value = '';
            }}
          >
            <Field
              name="resetPassword"
              label={s('resetLabel')}
              value={newPassword}
              type="password"
              autocomplete="new-password"
            />
            <button type="submit" class="big" disabled={busy.value}>
              {s('reset')}
            </button>
          </form>
          <button
            type="button"
            class={o.disabled ? 'big' : 'big danger'}
            disabled={busy.value}
            onClick={() =>
              patch({ disabled: !o.disabled }, o.disabled ? s('enabledDone') : s('disabledDone'))
            }
          >
            {o.disabled ? s('enable') : s('disable')}
          </button>
        </div>
      )}
    </section>
  );
}

export function Officers() {
  return (
    <Router>
      <Route path="/" component={List} />
      <Route path="/new" component={Create} />
      <Route path="/:id" component={Detail} />
      <Route default component={List} />
    </Router>
  );
}
