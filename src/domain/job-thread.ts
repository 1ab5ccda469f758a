/**
 * A worker thread that runs CPU-bound jobs for the controller one at a time — the codec library
 * (audio/transcode.ts), the speech engine (tts/espeak.ts) — so that their seconds of wasm never hold
 * up the controller's event loop (MQTT, HTTP, stops, the sweeper).
 *
 * The thread is started at the first job and does not keep the process alive while idle. Each job
 * is posted when the one before it has answered, so its timeout is its own: a job that outlives it
 * fails and its thread is stopped; a thread that dies fails the job it held. The next job starts a
 * new thread.
 *
 * The protocol: the controller posts `{ id, ...job }`; the thread answers `{ id, result }` or
 * `{ id, error: { message, statusCode?, code? } }` (an AppError crosses as one); anything it posts
 * without an `id` is a notice (a log line, "engine loaded").
 */
import { parentPort, type Worker } from 'node:worker_threads';
import { AppError } from '../errors.js';

/** A job's answer, as the thread posts it. */
export type JobReply =
  | { id: number; result: unknown }
  | { id: number; error: { message: string; statusCode?: number; code?: string } };

export interface JobThread {
  /** Runs `job` on the thread after the jobs before it: its result, or its error. */
  run<R>(job: Record<string, unknown>): Promise<R>;
  /**
   * Refuses new jobs, gives the queued ones up to `graceMs` to finish, then stops the thread;
   * what is still pending fails.
   */
  close(graceMs?: number): Promise<void>;
}

export function createJobThread(opts: {
  spawn: () => Worker;
  timeoutMs: number;
  /** a message without an id */
  onNotice?: (m: Record<string, unknown>) => void;
  /** an uncaught error in the thread (it then exits, failing its job) */
  onError?: (err: Error) => void;
}): JobThread {
  let worker: Worker | null = null;
  let nextId = 1;
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();
  /** the job running now (one at a time), and the thread it runs on */
  let current: { id: number; on: Worker; settle: (r: JobReply | Error) => void } | null = null;

  function thread(): Worker {
    if (worker) return worker;
    const w = opts.spawn();
    w.on('message', (m: Record<string, unknown>) => {
      if (typeof m.id !== 'number') opts.onNotice?.(m);
      else if (current?.on === w && current.id === m.id) current.settle(m as JobReply);
    });
    w.on('error', (err) => opts.onError?.(err));
    w.on('exit', (code) => {
      if (worker === w) worker = null;
      // A thread stopped for its timeout exits after the next job may have started on a new one.
      if (current?.on === w) current.settle(new Error(`the thread stopped (exit code ${code})`));
    });
    w.unref();
    worker = w;
    return w;
  }

  function post<R>(job: Record<string, unknown>): Promise<R> {
    if (closed) return Promise.reject(new Error('closed'));
    const id = nextId++;
    const w = thread();
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        settle(new Error(`did not finish within ${opts.timeoutMs / 1000} s; it was stopped`));
        if (worker === w) worker = null;
        void w.terminate();
      }, opts.timeoutMs);
      const settle = (r: JobReply | Error) => {
        clearTimeout(timer);
        current = null;
        w.unref();
        if (r instanceof Error) reject(r);
        else if ('result' in r) resolve(r.result as R);
        else {
          const e = r.error;
          reject(
            e.statusCode !== undefined && e.code !== undefined
              ? new AppError(e.statusCode, e.code, e.message)
              : new Error(e.message),
          );
        }
      };
      current = { id, on: w, settle };
      w.ref();
      w.postMessage({ ...job, id });
    });
  }

  return {
    run<R>(job: Record<string, unknown>): Promise<R> {
      const run = queue.then(() => post<R>(job));
      queue = run.catch(() => undefined);
      return run;
    },
    async close(graceMs = 0) {
      closed = true;
      if (graceMs > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([queue, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
        clearTimeout(timer);
      }
      const w = worker;
      worker = null;
      current?.settle(new Error('closed'));
      if (w) await w.terminate();
    },
  };
}

/**
 * The thread's side (a worker module): answers each job with what `handle` returns — `result`,
 * and the buffers to move rather than copy — or with the error it throws.
 */
export function serveJobs<J>(
  handle: (job: J) => Promise<{ result: unknown; transfer?: ArrayBuffer[] }>,
): (notice: Record<string, unknown>) => void {
  const port = parentPort;
  if (!port) throw new Error('serveJobs runs in a worker thread');
  port.on('message', (msg: J & { id: number }) => {
    handle(msg).then(
      ({ result, transfer }) => port.postMessage({ id: msg.id, result } satisfies JobReply, transfer ?? []),
      (err: unknown) => {
        const e = err as Error;
        const error =
          err instanceof AppError
            ? { message: e.message, statusCode: err.statusCode, code: err.code }
            : { message: String(e?.message ?? err) };
        port.postMessage({ id: msg.id, error } satisfies JobReply);
      },
    );
  });
  return (notice) => port.postMessage(notice);
}
