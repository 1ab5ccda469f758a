/**
 * A form's action: `busy` while it runs (its button disabled), then what was done or what went
 * wrong, in words (shown by <Notice>). A check that fails before asking the server is passed as
 * `refusal`: its words, or '' when all is well.
 */
import { type Signal, useSignal } from '@preact/signals';
import { errorText } from '../api';

export interface Action {
  error: Signal<string>;
  done: Signal<string>;
  busy: Signal<boolean>;
  /** Runs `job` unless refused; its answer (the words for what was done) goes to `done`. */
  run(refusal: string, job: () => Promise<string>): Promise<boolean>;
}

/** `explain` turns a failure into the words to show (by default the API error's own words). */
export function useAction(explain: (err: unknown) => string = errorText): Action {
  const error = useSignal('');
  const done = useSignal('');
  const busy = useSignal(false);
  async function run(refusal: string, job: () => Promise<string>): Promise<boolean> {
    error.value = refusal;
    done.value = '';
    if (refusal) return false;
    busy.value = true;
    try {
      done.value = await job();
      return true;
    } catch (err) {
      error.value = explain(err);
      return false;
    } finally {
      busy.value = false;
    }
  }
  return { error, done, busy, run };
}
