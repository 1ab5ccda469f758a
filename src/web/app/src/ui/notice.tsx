/**
 * What a form or screen says after an action: the error (role="alert", read out at once) and what
 * was done (role="status"); nothing while they are empty.
 */
export function Notice({ error = '', done = '' }: { error?: string; done?: string }) {
  return (
    <>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {done && (
        <p role="status" class="ok">
          {done}
        </p>
      )}
    </>
  );
}
