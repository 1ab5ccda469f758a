/**
 * The parent's side of the bench workers: forks bench/worker.ts (tsx as the loader), sends numbered
 * requests and waits for their answers, bounded in time; a worker that dies fails what it was doing.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { replySchema, type WorkerCommand, type WorkerReply } from './ipc.js';
import { REPO_ROOT, track, untrack } from './procs.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

export class Worker {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  #next = 1;
  #exited: string | null = null;
  /** protocol errors the worker's simulators reported, as of its last answer */
  protocolErrors = 0;

  constructor(
    readonly name: string,
    nodeArgs: string[] = [],
  ) {
    this.#child = fork(WORKER, [], {
      cwd: REPO_ROOT,
      execArgv: [...nodeArgs, '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    track(this.#child);
    this.#child.on('message', (raw: unknown) => {
      const parsed = replySchema.safeParse(raw);
      if (!parsed.success) return;
      const r = parsed.data;
      const waiter = this.#pending.get(r.req);
      this.#pending.delete(r.req);
      if (r.type === 'ok') this.protocolErrors = r.protocolErrors;
      waiter?.resolve(r);
    });
    this.#child.on('exit', (code, signal) => {
      untrack(this.#child);
      this.#exited = `bench worker ${name} exited (${signal ?? `code ${code}`})`;
      for (const w of this.#pending.values()) w.reject(new Error(this.#exited));
      this.#pending.clear();
    });
  }

  get pid(): number {
    return this.#child.pid ?? 0;
  }

  /** Sends `cmd` and resolves when the worker has done it; rejects on its error or after `timeoutMs`. */
  async request(cmd: WorkerCommand, timeoutMs: number): Promise<void> {
    await this.query(cmd, timeoutMs);
  }

  /** Like `request`, resolving with the answer's `data`. */
  query(cmd: WorkerCommand, timeoutMs: number): Promise<unknown> {
    if (this.#exited) return Promise.reject(new Error(this.#exited));
    const req = this.#next++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(req);
        reject(new Error(`bench worker ${this.name}: ${cmd.op} not done within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(req, {
        resolve: (r) => {
          clearTimeout(timer);
          if (r.type === 'ok') resolve(r.data);
          else reject(new Error(`bench worker ${this.name}: ${cmd.op} failed: ${r.message}`));
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#child.send({ ...cmd, req });
    });
  }

  /** Closes the IPC channel (the worker then stops its clients and exits); kills it if it lingers. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    if (this.#child.connected) this.#child.disconnect();
    else this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}

/** Splits `items` into `parts` contiguous slices of nearly equal size. */
export function split<T>(items: readonly T[], parts: number): T[][] {
  const size = Math.ceil(items.length / parts);
  return Array.from({ length: parts }, (_, i) => items.slice(i * size, (i + 1) * size));
}

/**
 * Starts the simulated fleet `rxIds` split over `workers`, each receiver logging in with its
 * password; resolves once every receiver is online and adopted. `perWorker` adds options to one
 * worker's part (its codecs, say).
 */
export async function startFleetOnWorkers(
  workers: readonly Worker[],
  ctl: { mqttUrl: string; httpUrl: string },
  fleet: { rxIds: readonly string[]; passwords: ReadonlyMap<string, string> },
  opts: { timeFactor: number; timeoutMs: number; perWorker?: (index: number) => { codecs?: string[] } },
): Promise<void> {
  const parts = split(fleet.rxIds, workers.length);
  await Promise.all(
    workers.map((w, i) =>
      w.request(
        {
          op: 'fleetStart',
          brokerUrl: ctl.mqttUrl,
          keyUrl: `${ctl.httpUrl}/api/system/signing-key`,
          ids: parts[i] ?? [],
          passwords: (parts[i] ?? []).map((id) => fleet.passwords.get(id) ?? ''),
          timeFactor: opts.timeFactor,
          concurrency: 50,
          adoptTimeoutMs: 60_000,
          ...opts.perWorker?.(i),
        },
        opts.timeoutMs,
      ),
    ),
  );
}
