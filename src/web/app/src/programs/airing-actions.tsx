/**
 * What an operator may do with one airing not begun (POST /api/airings/:id/cancel and /shift):
 * cancel it after a confirmation, or move it to another date and time (quick "+N minutes"
 * buttons fill those in). The calendar then reads the airings again: it shows what the server
 * holds, not what was asked.
 */
import { useSignal } from '@preact/signals';
import { api } from '../api';
import { t } from '../i18n';
import { Confirm } from '../ui/confirm';
import { formatLocal, localAt, localInstant } from './local-time';
import type { Airing } from './model';
import { errorText, w } from './words';

const LATER = [5, 15, 30, 60];

export function AiringActions(props: { airing: Airing; timeZone: string; onChanged: () => Promise<void> }) {
  const { airing: a, timeZone } = props;
  const [date, time] = localAt(a.at, timeZone).split('T') as [string, string];
  const confirming = useSignal(false);
  const shifting = useSignal(false);
  const newDate = useSignal(date);
  const newTime = useSignal(time);
  const busy = useSignal(false);
  const notice = useSignal('');
  const error = useSignal('');
  const at = formatLocal(a.at, timeZone);
  // cancelled, or begun: nothing left to do with it (a stop ends what plays)
  const open = a.status === 'scheduled' && Date.parse(a.at) > Date.now();
  const base = `/api/airings/${encodeURIComponent(a.id)}`;

  async function run(action: () => Promise<string>) {
    busy.value = true;
    error.value = '';
    try {
      notice.value = await action();
      confirming.value = false;
      shifting.value = false;
      await props.onChanged();
    } catch (err) {
      error.value = errorText(err);
    } finally {
      busy.value = false;
    }
  }
  const later = (minutes: number) => {
    const [d, tm] = localAt(Date.parse(a.at) + minutes * 60_000, timeZone).split('T') as [string, string];
    newDate.value = d;
    newTime.value = tm;
  };

  return (
    <div class="airing-actions stack">
      {notice.value && <p role="status">{notice.value}</p>}
      {error.value && (
        <p role="alert" class="error">
          {error.value}
        </p>
      )}
      {open && confirming.value && (
        <Confirm
          question={w('cancelConfirm', { title: a.title, at })}
          no={w('keep')}
          yes={w('cancelYes')}
          row="two"
          busy={busy.value}
          onNo={() => (confirming.value = false)}
          onYes={() =>
            void run(async () => {
              await api('POST', `${base}/cancel`, {});
              return w('cancelledOne');
            })
          }
        />
      )}
      {open && shifting.value && (
        <form
          class="stack"
          aria-label={w('shift')}
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => {
              const moved = await api<Airing>('POST', `${base}/shift`, {
                at: localInstant(`${newDate.value}T${newTime.value}`, timeZone),
              });
              return w('shiftedTo', { at: formatLocal(moved.at, timeZone) });
            });
          }}
        >
          <div class="row">
            {LATER.map((n) => (
              <button key={n} type="button" aria-label={w('laterLabel', { n })} onClick={() => later(n)}>
                {w('later', { n })}
              </button>
            ))}
          </div>
          <div class="row two">
            <label>
              {w('shiftDate')}
              <input
                type="date"
                required
                value={newDate.value}
                onInput={(e) => (newDate.value = e.currentTarget.value)}
              />
            </label>
            <label>
              {w('shiftTime')}
              <input
                type="time"
                required
                value={newTime.value}
                onInput={(e) => (newTime.value = e.currentTarget.value)}
              />
            </label>
          </div>
          <div class="row two">
            <button type="button" onClick={() => (shifting.value = false)}>
              {t('common.cancel')}
            </button>
            <button type="submit" class="primary" disabled={busy.value}>
              {w('shiftYes')}
            </button>
          </div>
        </form>
      )}
      {open && !confirming.value && !shifting.value && (
        <div class="row two">
          <button type="button" onClick={() => (shifting.value = true)}>
            {w('shift')}
          </button>
          <button type="button" class="danger" onClick={() => (confirming.value = true)}>
            {w('cancelOne')}
          </button>
        </div>
      )}
    </div>
  );
}
