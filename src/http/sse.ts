/**
 * A live progress stream as Server-Sent Events: a `progress` event with a snapshot at once and at
 * each change of the thing followed, `end` when it is over, a comment every 15 s so that proxies
 * keep the connection open. Used by the bulletin and the stop progress streams.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export function streamProgress<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  opts: {
    /** calls `listener` with the id of what changed; returns how to stop listening */
    subscribe: (listener: (changedId: string) => void) => () => void;
    id: string;
    snapshot: () => T | null;
    ended: (snapshot: T) => boolean;
  },
): void {
  const first = opts.snapshot();
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  const send = (snap: T) => {
    res.write(`event: progress\ndata: ${JSON.stringify(snap)}\n\n`);
    if (opts.ended(snap)) {
      res.write('event: end\ndata: {}\n\n');
      close();
    }
  };
  const onChange = (changed: string) => {
    if (changed !== opts.id) return;
    const snap = opts.snapshot();
    if (snap !== null) send(snap);
  };
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  let unsubscribe = () => {};
  const close = () => {
    clearInterval(heartbeat);
    unsubscribe();
    res.end();
  };
  unsubscribe = opts.subscribe(onChange);
  request.raw.on('close', close);
  if (first !== null) send(first);
  else close();
}
