/**
 * The "not yet heard" webhook: a signed JSON POST a commune wires to SMS, Zalo or a siren panel.
 *
 * Signature (after Stripe's and GitHub's): header `X-Loalang-Signature: t=<unix s>,v1=<hex>` where
 * `<hex>` is HMAC-SHA256(secret, `<t>.<body>`); the receiver recomputes it over the raw body and
 * refuses a timestamp older than a few minutes (replays). `X-Loalang-Event` names the event and
 * `X-Loalang-Delivery` is unique per attempt series (the same across retries, for de-duplication).
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

export interface WebhookTarget {
  url: string;
  secret: string;
}

/** The header value for `body` signed at `unixSeconds`. */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * Checks a signature header as a webhook's receiver would (exported for tests and for integrators
 * writing one in TypeScript): the HMAC matches and the timestamp is within `toleranceS` of now.
 */
export function verifyWebhook(
  secret: string,
  body: string,
  header: string | undefined,
  nowS = Math.floor(Date.now() / 1000),
  toleranceS = 300,
): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(nowS - t) > toleranceS) return false;
  const expected = Buffer.from(signWebhook(secret, body, t).slice(`t=${t},v1=`.length), 'hex');
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}

/**
 * POSTs `payload` to the webhook, trying up to `attempts` times with a doubling wait; resolves to
 * whether a 2xx answer came. Never throws. Each try times out after `timeoutMs`.
 */
export async function sendWebhook(
  target: WebhookTarget,
  event: string,
  payload: unknown,
  opts: { attempts?: number; timeoutMs?: number; firstWaitMs?: number } = {},
): Promise<{ ok: boolean; status: number | null; error: string | null; tries: number }> {
  const attempts = opts.attempts ?? 4;
  const body = JSON.stringify(payload);
  const delivery = randomUUID();
  let wait = opts.firstWaitMs ?? 2000;
  let last: { status: number | null; error: string | null } = { status: null, error: null };
  for (let i = 1; i <= attempts; i++) {
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'loalang-webhook/1',
          'x-loalang-event': event,
          'x-loalang-delivery': delivery,
          'x-loalang-signature': signWebhook(target.secret, body, Math.floor(Date.now() / 1000)),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300)
        return { ok: true, status: res.status, error: null, tries: i };
      last = { status: res.status, error: `answered ${res.status}` };
    } catch (err) {
      last = { status: null, error: (err as Error).message };
    }
    if (i < attempts) {
      await new Promise((r) => setTimeout(r, wait).unref());
      wait *= 2;
    }
  }
  return { ok: false, ...last, tries: attempts };
}
