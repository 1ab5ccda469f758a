/**
 * The worker thread that runs the codec library's and the speech engine's jobs (job-thread.ts): a
 * real worker thread running a small job server that can answer, fail, hang or die on request.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { createJobThread, type JobThread } from '../src/domain/job-thread.js';
import { AppError } from '../src/errors.js';

/** What the thread does with each job; it answers with its thread id and the jobs it has seen. */
const SERVER = `
const { parentPort, threadId } = require('node:worker_threads');
let seen = 0;
let running = 0;
parentPort.postMessage({ type: 'hello', threadId });
parentPort.on('message', (job) => {
  seen++;
  running++;
  const reply = (m) => { running--; parentPort.postMessage({ id: job.id, ...m }); };
  switch (job.do) {
    case 'echo':
      // Answered later, so that a job posted meanwhile would be seen running alongside it.
      setTimeout(() => reply({ result: { value: job.value, threadId, seen, running } }), 20);
      break;
    case 'refuse':
      reply({ error: { message: 'no such file', statusCode: 415, code: 'no_decoder' } });
      break;
    case 'fail':
      reply({ error: { message: 'it broke' } });
      break;
    case 'stray':
      // An answer for a job that is not this one, then this one's.
      parentPort.postMessage({ id: job.id + 1000, result: 'not yours' });
      reply({ result: 'mine' });
      break;
    case 'hang':
      break;
    case 'die':
      process.exit(3);
  }
});
`;

interface Echo {
  value: number;
  threadId: number;
  seen: number;
  running: number;
}

let jt: JobThread | null = null;
const notices: Record<string, unknown>[] = [];
/** resolves at the first thread's hello */
let hello: Promise<void>;

function start(timeoutMs = 10_000): JobThread {
  notices.length = 0;
  let said!: () => void;
  hello = new Promise((resolve) => (said = resolve));
  jt = createJobThread({
    spawn: () => new Worker(SERVER, { eval: true }),
    timeoutMs,
    onNotice: (m) => {
      notices.push(m);
      said();
    },
  });
  return jt;
}

afterEach(async () => {
  await jt?.close();
  jt = null;
});

describe('a job thread', () => {
  it('runs jobs one at a time, in order, on one thread, and passes its notices on', async () => {
    const t = start();
    const answers = await Promise.all([1, 2, 3, 4].map((value) => t.run<Echo>({ do: 'echo', value })));
    expect(answers.map((a) => [a.value, a.seen, a.running])).toEqual([
      [1, 1, 1],
      [2, 2, 1],
      [3, 3, 1],
      [4, 4, 1],
    ]);
    expect(new Set(answers.map((a) => a.threadId)).size).toBe(1);
    expect(notices).toEqual([{ type: 'hello', threadId: answers[0]!.threadId }]);
  });

  it("fails a job with the thread's error: an AppError as one, anything else as an Error", async () => {
    const t = start();
    const refused = await t.run({ do: 'refuse' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ statusCode: 415, code: 'no_decoder', message: 'no such file' });
    const failed = await t.run({ do: 'fail' }).catch((e: unknown) => e);
    expect(failed).not.toBeInstanceOf(AppError);
    expect(failed).toMatchObject({ message: 'it broke' });
    // The thread is still there for the next job.
    expect((await t.run<Echo>({ do: 'echo', value: 5 })).value).toBe(5);
  });

  it('ignores an answer for a job that is not the one running', async () => {
    const t = start();
    expect(await t.run({ do: 'stray' })).toBe('mine');
  });

  it('fails the job a dying thread held, and runs the next on a new thread', async () => {
    const t = start();
    const before = await t.run<Echo>({ do: 'echo', value: 1 });
    await expect(t.run({ do: 'die' })).rejects.toThrow('the thread stopped (exit code 3)');
    const after = await t.run<Echo>({ do: 'echo', value: 2 });
    expect(after.value).toBe(2);
    expect(after.threadId).not.toBe(before.threadId);
    expect(after.seen).toBe(1);
  });

  it('stops a job that outlives its timeout, and runs the next on a new thread', async () => {
    const t = start(1000);
    const before = await t.run<Echo>({ do: 'echo', value: 1 });
    await expect(t.run({ do: 'hang' })).rejects.toThrow('did not finish within 1 s; it was stopped');
    const after = await t.run<Echo>({ do: 'echo', value: 2 });
    expect(after.threadId).not.toBe(before.threadId);
  });

  it('once closed, fails the job it held and refuses the next', async () => {
    const t = start();
    const held = t.run({ do: 'hang' });
    held.catch(() => undefined);
    // The thread said hello: it was started for the job, which was posted to it at once.
    await hello;
    await t.close();
    await expect(held).rejects.toThrow('closed');
    await expect(t.run({ do: 'echo', value: 1 })).rejects.toThrow('closed');
  });
});
