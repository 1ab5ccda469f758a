/**
 * The filters over a log (the audit log, the as-run log): the fields, then "show" and a link to
 * the CSV of the same filter (a plain link: the cookie session downloads it). The date range sits
 * side by side on a 360 px phone; the end cannot be chosen before the start.
 */
import type { Signal } from '@preact/signals';
import type { ComponentChildren } from 'preact';
import './filters.css';

export function FilterBar(props: {
  onApply: () => void;
  apply: string;
  busy?: boolean;
  csv: { href: string; label: string; file?: string };
  children: ComponentChildren;
}) {
  return (
    <form
      class="filters"
      onSubmit={(e) => {
        e.preventDefault();
        props.onApply();
      }}
    >
      {props.children}
      <div class="pair">
        <button type="submit" class="primary" disabled={props.busy}>
          {props.apply}
        </button>
        <a class="button" href={props.csv.href} download={props.csv.file ?? true}>
          {props.csv.label}
        </a>
      </div>
    </form>
  );
}

function Day(props: { label: string; name: string; value: Signal<string>; min?: string; max?: string }) {
  const { value } = props;
  return (
    <label>
      {props.label}
      <input
        name={props.name}
        type="date"
        value={value.value}
        min={props.min}
        max={props.max}
        onInput={(e) => {
          value.value = e.currentTarget.value;
        }}
      />
    </label>
  );
}

/** Two dates, from and to (both included). */
export function DateRange(props: {
  from: Signal<string>;
  to: Signal<string>;
  fromLabel: string;
  toLabel: string;
}) {
  const { from, to } = props;
  return (
    <div class="pair">
      <Day label={props.fromLabel} name="from" value={from} max={to.value} />
      <Day label={props.toLabel} name="to" value={to} min={from.value} />
    </div>
  );
}

/** One of a list, or all of them (the empty value). */
export function Choice(props: {
  label: string;
  value: Signal<string>;
  all: string;
  options: { value: string; label: string }[];
  name?: string;
}) {
  const { value } = props;
  return (
    <label>
      {props.label}
      <select
        name={props.name}
        value={value.value}
        onChange={(e) => {
          value.value = e.currentTarget.value;
        }}
      >
        <option value="">{props.all}</option>
        {props.options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
}
