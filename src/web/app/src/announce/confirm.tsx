/**
 * The second step of an emergency to every village: the officer's PIN, asked as the dialog opens —
 * also when this one goes to some villages but, with what the officer sent just before, the
 * server counts every village reached (its 428).
 */
import { useSignal } from '@preact/signals';
import { t } from '../i18n';
import { Dialog } from './dialog';
import { s } from './words';

interface Props {
  open: boolean;
  busy: boolean;
  error: string;
  /** asked by the server for what was sent just before, not for this announcement alone */
  summed: boolean;
  onConfirm: (pin: string) => void;
  onCancel: () => void;
}

export function PinDialog({ open, busy, error, summed, onConfirm, onCancel }: Props) {
  const pin = useSignal('');
  const close = () => {
    pin.value = '';
    onCancel();
  };
  return (
    <Dialog open={open} title={s('confirmTitle')} onClose={close}>
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          const value = pin.value;
          pin.value = '';
          onConfirm(value);
        }}
      >
        <p>{s(summed ? 'confirmSummed' : 'confirmAll')}</p>
        <label>
          {s('pin')}
          <input
            name="pin"
            type="password"
            inputMode="numeric"
            autocomplete="off"
            required
            value={pin.value}
            onInput={(e) => {
              pin.value = e.currentTarget.value;
            }}
          />
        </label>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <button type="submit" class="primary big" disabled={busy}>
          {busy ? s('sending') : s('confirmSend')}
        </button>
        <button type="button" class="big" onClick={close}>
          {t('common.cancel')}
        </button>
      </form>
    </Dialog>
  );
}
