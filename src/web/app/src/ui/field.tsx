/**
 * A form's text field: its label with an input bound to a signal (what the officer types is kept in
 * the signal, so a failed send keeps it).
 */
import type { Signal } from '@preact/signals';
import type { InputHTMLAttributes } from 'preact';

export interface FieldProps {
  label: string;
  value: Signal<string>;
  name: string;
  /** a password or PIN, hidden as it is typed */
  type?: 'password';
  required?: boolean;
  autocomplete?: string;
  autocapitalize?: 'none' | 'characters';
  inputMode?: 'numeric';
}

export function Field({ label, value, type, ...input }: FieldProps) {
  // Preact types an input's attributes per `type`; a type chosen by a prop is either of two.
  const typed = { type: type ?? 'text' } as InputHTMLAttributes;
  return (
    <label>
      {label}
      <input
        {...input}
        {...typed}
        value={value.value}
        onInput={(e) => {
          value.value = e.currentTarget.value;
        }}
      />
    </label>
  );
}
