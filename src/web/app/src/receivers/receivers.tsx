/**
 * Receivers (admin, reached from "More"): adopt the pending ones (they connected on their own,
 * MQTT_DISCOVERY), register one by its id, and each receiver's settings. Registration, adoption
 * and re-issue answer a provisioning bundle, shown once.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ApiError, api, hasRole } from '../api';
import { strings, t } from '../i18n';
import type { Receiver, Zone } from '../screens/today';
import { type Bundle, BundlePanel } from './bundle';
import { ReceiverEditor } from './editor';
import './receivers.css';

const s = strings(
  {
    title: 'Cụm loa',
    back: '‹ Thêm',
    adminOnly: 'Chỉ quản trị viên quản lý cụm loa.',
    pending: 'Cụm loa chờ nhận ({n})',
    pendingHint: 'Các cụm loa này tự kết nối nhưng chưa thuộc thôn nào. Chọn thôn rồi nhận.',
    adoptZone: 'Nhận {id} vào thôn',
    adopt: 'Nhận vào thôn',
    register: 'Đăng ký cụm loa mới',
    id: 'Mã cụm loa (in trên thiết bị)',
    name: 'Tên (không bắt buộc)',
    zone: 'Đặt ở thôn',
    registerBtn: 'Đăng ký',
    all: 'Tất cả cụm loa ({n})',
    noZones: 'Chưa có thôn nào: thêm thôn trước khi đăng ký cụm loa.',
    online: 'Trực tuyến',
    offline: 'Mất kết nối',
    edit: 'Sửa {name}',
  },
  {
    title: 'Receivers',
    back: '‹ More',
    adminOnly: 'Only administrators manage receivers.',
    pending: 'Receivers waiting to be adopted ({n})',
    pendingHint: 'These receivers connected on their own but belong to no village. Pick a village and adopt.',
    adoptZone: 'Adopt {id} into village',
    adopt: 'Adopt',
    register: 'Register a new receiver',
    id: 'Receiver id (printed on the device)',
    name: 'Name (optional)',
    zone: 'Placed in village',
    registerBtn: 'Register',
    all: 'All receivers ({n})',
    noZones: 'No villages yet: add a village before registering receivers.',
    online: 'Online',
    offline: 'Offline',
    edit: 'Edit {name}',
  },
);

type Provisioned = Receiver & { provisioning: Bundle };

export function Receivers() {
  const zones = useSignal<Zone[]>([]);
  const receivers = useSignal<Receiver[] | null>(null);
  const error = useSignal('');
  const bundle = useSignal<Bundle | null>(null);
  const open = useSignal<string | null>(null);
  const adoptZone = useSignal<Record<string, string>>({});
  const reg = useSignal({ id: '', name: '', zoneId: '' });
  const regError = useSignal('');
  const busy = useSignal(false);
  const showReg = useSignal(false);

  async function load() {
    try {
      const [z, r] = await Promise.all([
        api<{ items: Zone[] }>('GET', '/api/zones'),
        api<{ items: Receiver[] }>('GET', '/api/receivers'),
      ]);
      zones.value = z.items;
      receivers.value = r.items;
      error.value = '';
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : t('err.network');
    }
  }
  useEffect(() => {
    if (!hasRole()) return;
    void load();
    // pending receivers appear on their own: look again now and then
    const timer = setInterval(() => void load(), 5000);
    return () => clearInterval(timer);
  }, []);

  const put = (r: Receiver) => {
    const list = receivers.value ?? [];
    receivers.value = list.some((x) => x.id === r.id)
      ? list.map((x) => (x.id === r.id ? r : x))
      : [...list, r];
  };
  const provisioned = ({ provisioning, ...r }: Provisioned) => {
    put(r);
    bundle.value = provisioning;
  };

  async function adopt(id: string) {
    const zoneId = adoptZone.value[id] ?? zones.value[0]?.id;
    if (!zoneId) return;
    busy.value = true;
    try {
      provisioned(
        await api<Provisioned>('POST', `/api/receivers/${encodeURIComponent(id)}/adopt`, { zoneId }),
      );
      error.value = '';
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : t('err.network');
    } finally {
      busy.value = false;
    }
  }

  async function register(e: Event) {
    e.preventDefault();
    const { id, name, zoneId } = reg.value;
    busy.value = true;
    regError.value = '';
    try {
      provisioned(
        await api<Provisioned>('POST', '/api/receivers', {
          id: id.trim(),
          zoneId: zoneId || zones.value[0]?.id,
          ...(name.trim() ? { name: name.trim() } : {}),
        }),
      );
      reg.value = { id: '', name: '', zoneId };
    } catch (err) {
      regError.value = err instanceof ApiError ? err.message : t('err.network');
    } finally {
      busy.value = false;
    }
  }

  if (!hasRole())
    return (
      <section class="receivers-screen">
        <h1>{s('title')}</h1>
        <p role="alert" class="error">
          {s('adminOnly')}
        </p>
      </section>
    );

  if (bundle.value)
    return (
      <section class="receivers-screen stack">
        <BundlePanel
          bundle={bundle.value}
          onClose={() => {
            bundle.value = null;
          }}
        />
      </section>
    );

  const all = receivers.value ?? [];
  const pending = all.filter((r) => r.adoption === 'pending');
  const adopted = all.filter((r) => r.adoption === 'adopted');
  const zoneName = (id: string | null) => zones.value.find((z) => z.id === id)?.name ?? '—';
  const setReg = (k: 'id' | 'name' | 'zoneId', v: string) => {
    reg.value = { ...reg.value, [k]: v };
  };

  return (
    <section class="receivers-screen stack">
      <a href="/more" class="back">
        {s('back')}
      </a>
      <h1>{s('title')}</h1>
      {error.value && (
        <p role="alert" class="error">
          {error.value}
        </p>
      )}
      {receivers.value === null && !error.value && <p>{t('common.loading')}</p>}
      {zones.value.length === 0 && receivers.value !== null && <p class="warn">{s('noZones')}</p>}

      {pending.length > 0 && (
        <section class="card stack" aria-labelledby="pending-h">
          <h2 id="pending-h">{s('pending', { n: pending.length })}</h2>
          <p class="muted">{s('pendingHint')}</p>
          <ul class="plain">
            {pending.map((r) => (
              <li key={r.id} data-pending={r.id} class="stack">
                <strong>{r.id}</strong>
                <label>
                  {s('adoptZone', { id: r.id })}
                  <select
                    value={adoptZone.value[r.id] ?? zones.value[0]?.id ?? ''}
                    onChange={(e) => {
                      adoptZone.value = { ...adoptZone.value, [r.id]: e.currentTarget.value };
                    }}
                  >
                    {zones.value.map((z) => (
                      <option key={z.id} value={z.id}>
                        {z.name}
                      </option>
                    ))}
                  </select>
                </label>
                <button
                  type="button"
                  class="primary"
                  disabled={busy.value || zones.value.length === 0}
                  onClick={() => void adopt(r.id)}
                >
                  {s('adopt')}
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}

      <section aria-labelledby="all-h" class="stack">
        <h2 id="all-h">{s('all', { n: adopted.length })}</h2>
        <ul class="plain rx-list">
          {adopted.map((r) => (
            <li key={r.id} data-receiver={r.id} class="card">
              <button
                type="button"
                class="rx-head"
                aria-expanded={open.value === r.id}
                aria-label={s('edit', { name: r.name })}
                onClick={() => {
                  open.value = open.value === r.id ? null : r.id;
                }}
              >
                <span class={`dot ${r.online ? 'on' : 'off'}`} aria-hidden="true" />
                <span class="rx-name">
                  <strong>{r.name}</strong>
                  <span class="muted">
                    {r.id} · {zoneName(r.zoneId)} · {r.online ? s('online') : s('offline')}
                  </span>
                </span>
              </button>
              {open.value === r.id && (
                <ReceiverEditor
                  receiver={r}
                  zones={zones.value}
                  onChanged={put}
                  onBundle={(b) => {
                    bundle.value = b;
                  }}
                />
              )}
            </li>
          ))}
        </ul>
      </section>
      {showReg.value ? (
        <form class="card stack" id="register-form" onSubmit={register} aria-labelledby="register-h">
          <h2 id="register-h">{s('register')}</h2>
          <label>
            {s('id')}
            <input
              type="text"
              required
              maxLength={64}
              pattern="[A-Za-z0-9][A-Za-z0-9_.\-]*"
              autoCapitalize="none"
              spellcheck={false}
              value={reg.value.id}
              onInput={(e) => setReg('id', e.currentTarget.value)}
            />
          </label>
          <label>
            {s('name')}
            <input
              type="text"
              maxLength={100}
              value={reg.value.name}
              onInput={(e) => setReg('name', e.currentTarget.value)}
            />
          </label>
          <label>
            {s('zone')}
            <select
              value={reg.value.zoneId || zones.value[0]?.id || ''}
              onChange={(e) => setReg('zoneId', e.currentTarget.value)}
            >
              {zones.value.map((z) => (
                <option key={z.id} value={z.id}>
                  {z.name}
                </option>
              ))}
            </select>
          </label>
          {regError.value && (
            <p role="alert" class="error">
              {regError.value}
            </p>
          )}
          <button type="submit" class="primary big" disabled={busy.value || zones.value.length === 0}>
            {s('registerBtn')}
          </button>
        </form>
      ) : (
        <button
          type="button"
          class="primary big"
          aria-controls="register-form"
          aria-expanded={false}
          onClick={() => {
            showReg.value = true;
          }}
        >
          {s('register')}
        </button>
      )}
    </section>
  );
}
