/**
 * A destructive action asked a second time: the question, then "no" and the red "yes" side by
 * side (the screen's own `.row` styles them). With `label` the legend is that (for screen
 * readers only) and the question is a paragraph.
 */
import type { ComponentChildren } from 'preact';
import { t } from '../i18n';

export function Confirm(props: {
  question: ComponentChildren;
  yes: string;
  /** default "Huỷ" / "Cancel" */
  no?: string;
  label?: string;
  busy: boolean;
  onNo: () => void;
  onYes: () => void;
  /** extra class of the buttons' row (e.g. `two`: equal halves) */
  row?: string;
}) {
  return (
    <fieldset class="confirm stack">
      {props.label ? (
        <>
          <legend class="sr-only">{props.label}</legend>
          <p>{props.question}</p>
        </>
      ) : (
        <legend>{props.question}</legend>
      )}
      <div class={props.row ? `row ${props.row}` : 'row'}>
        <button type="button" onClick={props.onNo}>
          {props.no ?? t('common.cancel')}
        </button>
        <button type="button" class="danger" disabled={props.busy} onClick={props.onYes}>
          {props.yes}
        </button>
      </div>
    </fieldset>
  );
}
