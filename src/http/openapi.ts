/**
 * Completes the OpenAPI document for integrators: every route answers errors in one shape (the
 * `Error` schema of `errors.ts`), so each operation lists the ones any route can give — 401 and 403
 * where a login is needed, 400 where it takes input, 429 where it is rate-limited — and every error
 * answer says in words what it means, instead of swagger's "Default Response". The document only:
 * what the routes send is unchanged.
 */

interface Operation {
  parameters?: unknown[];
  requestBody?: unknown;
  responses?: Record<string, { description?: string; content?: unknown }>;
}

const WORDS: Record<string, string> = {
  '400': 'validation (or another code): the request is not as described; `details` names the fields',
  '401': 'unauthorized: log in first (bearer token, or the session cookie with X-CSRF-Token)',
  '403':
    "forbidden: this account's roles or villages do not allow it (csrf: the cookie session's token is missing)",
  '404': 'not_found: no such thing (or not one this account may see)',
  '409': 'conflict: the current state refuses it; `error` says which and `message` what to do',
  '413': 'too_large: the body is over the limit',
  '415': 'unsupported_media: this content type or file format is not accepted',
  '422': 'the content was read but cannot be used; `message` says why',
  '428': 'confirmation_required: an emergency to every village needs a fresh confirmation token',
  '429': 'rate_limited or too_many_tries: wait (Retry-After) and try again',
  '503': 'unavailable now (e.g. tts_unavailable): retry later or do without',
};

const errorAnswer = (code: string) => ({
  description: WORDS[code] ?? 'error',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/**
 * Adds the error answers each operation can give and words for every error answer.
 * `isPublic(method, url)` tells the routes that need no login (url in Fastify's `:param` form).
 */
export function completeErrorResponses<T extends { paths?: Record<string, Record<string, unknown>> }>(
  doc: T,
  isPublic: (method: string, url: string) => boolean,
  rateLimited: (method: string, url: string) => boolean,
): T {
  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    if (!path.startsWith('/api/')) continue;
    const url = path.replace(/\{(\w+)\}/g, ':$1');
    for (const [method, raw] of Object.entries(ops)) {
      const op = raw as Operation;
      op.responses ??= {};
      const responses = op.responses;
      const m = method.toUpperCase();
      const add = (code: string) => {
        if (!responses[code]) responses[code] = errorAnswer(code);
      };
      if (op.requestBody || op.parameters?.length) add('400');
      if (!isPublic(m, url)) {
        add('401');
        add('403');
      }
      if (rateLimited(m, url)) add('429');
      for (const [code, answer] of Object.entries(responses)) {
        if (/^[45]/.test(code) && (!answer.description || answer.description === 'Default Response'))
          answer.description = WORDS[code] ?? 'error';
      }
    }
  }
  return doc;
}
