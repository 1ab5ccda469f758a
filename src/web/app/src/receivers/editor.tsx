/**
 * One adopted receiver's settings: rename, move to a village, default volume (PATCH sends only
 * what changed), re-issue its credentials (a new bundle, shown once) and revoke them.
 */
import { useSignal } from '@preact/signals';
import { ApiError, api } from '../api';
import { strings, t } from '../i18n';
import type { Receiver, Zone } from '../screens/today';
import { Confirm } from '../ui/confirm';
import { Notice } from '../ui/notice';
import type { Bundle } from './bundle';

const s = strings(
  {
    name: 'Tên cụm loa',
    zone: 'Thôn',
    volume: 'Âm lượng mặc định: {v}',
    saved: 'Đã lưu.',
    reissue: 'Cấp lại mật khẩu',
    reissueHint: 'Mật khẩu cũ ngừng hoạt động ngay; cụm loa cần cài lại thông tin mới.',
    revoke: 'Thu hồi quyền kết nối',
    revokeConfirm: 'Thu hồi? Cụm loa bị ngắt và không kết nối lại được cho đến khi cấp lại mật khẩu.',
    revokeYes: 'Thu hồi',
    revoked: 'Đã thu hồi. Cụm loa đã bị ngắt kết nối.',
  },
  {
    name: 'Receiver name',
    zone: 'Village',
    volume: 'Default volume: {v}',
    saved: 'Saved.',
    reissue: 'Re-issue credentials',
    reissueHint: 'The old password stops working at once; install the new details on the receiver.',
    revoke: 'Revoke access',
    revokeConfirm:
      'Revoke? The receiver is disconnected and cannot reconnect until credentials are re-issued.',
    revokeYes: 'Revoke',
    revoked: 'Revoked. The receiver has been disconnected.',
  },
);

export function ReceiverEditor({
  receiver,
  zones,
  onChanged,
  onBundle,
}: {
  receiver: Receiver;
  zones: Zone[];
  onChanged: (r: Receiver) => void;
  onBundle: (b: Bundle) => void;
}) {
  const name = useSignal(receiver.name);
  const zoneId = useSignal(receiver.zoneId ?? '');
  const volume = useSignal(receiver.volume ?? 70);
  const error = useSignal('');
  const notice = useSignal('');
  const busy = useSignal(false);
  const confirmRevoke = useSignal(false);
  const base = `/api/receivers/${encodeURIComponent(receiver.id)}`;

  async function run(action: () => Promise<void>) {
    busy.value = true;
    error.value = '';
    notice.value = '';
    try {
      await action();
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : t('err.network');
    } finally {
      busy.value = false;
    }
  }

  const save = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const patch: Record<string, unknown> = {};
      if (name.value.trim() && name.value.trim() !== receiver.name) patch.name = name.value.trim();
      if (zoneId.value && zoneId.value !== receiver.zoneId) patch.zoneId = zoneId.value;
      if (volume.value !== receiver.volume) patch.volume = volume.value;
      if (Object.keys(patch).length === 0) {
        notice.value = s('saved');
        return;
      }
      const r = await api<Receiver>('PATCH', base, patch);
      onChanged(r);
      notice.value = s('saved');
    });
  };

  const id = receiver.id;
  return (
    <form class="editor stack" onSubmit={save}>
      <label>
        {s('name')}
        <input
          type="text"
          maxLength={100}
          required
          value={name.value}
          onInput={(e) => (name.value = e.currentTarget.value)}
        />
      </label>
      <label>
        {s('zone')}
        <select value={zoneId.value} onChange={(e) => (zoneId.value = e.currentTarget.value)}>
          {zones.map((z) => (
            <option key={z.id} value={z.id}>
              {z.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        {s('volume', { v: volume.value })}
        <input
          type="range"
          min={0}
          max={100}
          step={5}
          value={volume.value}
          onInput={(e) => (volume.value = Number(e.currentTarget.value))}
        />
      </label>
      <Notice error={error.value} done={notice.value} />
      <button type="submit" class="primary big" disabled={busy.value}>
        {t('common.save')}
      </button>
      <p class="muted" id={`reissue-${id}`}>
        {s('reissueHint')}
      </p>
      <button
        type="button"
        aria-describedby={`reissue-${id}`}
        disabled={busy.value}
        onClick={() =>
          void run(async () => {
            const r = await api<Receiver & { provisioning: Bundle }>('POST', `${base}/credentials`, {});
            const { provisioning, ...rest } = r;
            onChanged(rest);
            onBundle(provisioning);
          })
        }
      >
        {s('reissue')}
      </button>
      {confirmRevoke.value ? (
        <Confirm
          question={s('revokeConfirm')}
          yes={s('revokeYes')}
          busy={busy.value}
          onNo={() => (confirmRevoke.value = false)}
          onYes={() =>
            void run(async () => {
              await api('DELETE', `${base}/credentials`);
              confirmRevoke.value = false;
              notice.value = s('revoked');
            })
          }
        />
      ) : (
        <button type="button" class="danger" onClick={() => (confirmRevoke.value = true)}>
          {s('revoke')}
        </button>
      )}
    </form>
  );
}
