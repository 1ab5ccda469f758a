/**
 * The transcoder's thread (see createTranscoder in transcode.ts): runs libav.js jobs off the
 * controller's event loop, one at a time, and answers each with its result or its error.
 */
import { parentPort } from 'node:worker_threads';
import { AppError } from '../../errors.js';
import { createLocalTranscoder, type WorkerJob, type WorkerReply } from './transcode.js';

const port = parentPort;
if (!port) throw new Error('transcode-worker.ts runs as a worker thread of the controller');

/** The one line the transcoder logs goes to the controller's log. */
const log = {
  info: (obj: Record<string, unknown>, msg: string) =>
    port.postMessage({ log: { obj, msg } } satisfies WorkerReply),
};
const local = createLocalTranscoder({ log });

port.on('message', (job: WorkerJob) => {
  void (async () => {
    try {
      if (job.op === 'transcode') {
        const outputs = await local.transcode(job.input, job.targets);
        const reply: WorkerReply = { id: job.id, ok: true, outputs };
        port.postMessage(
          reply,
          outputs.map((o) => o.bytes.buffer as ArrayBuffer),
        );
      } else {
        const samples = await local.decode(job.input, job.sampleRate, job.maxSeconds);
        port.postMessage({ id: job.id, ok: true, samples } satisfies WorkerReply, [
          samples.buffer as ArrayBuffer,
        ]);
      }
    } catch (err) {
      const e = err as Error;
      const error =
        err instanceof AppError
          ? { message: e.message, statusCode: err.statusCode, code: err.code }
          : { message: e.message };
      port.postMessage({ id: job.id, ok: false, error } satisfies WorkerReply);
    }
  })();
});
