/**
 * The transcoder's thread (createTranscoder in transcode.ts, job-thread.ts): runs libav.js jobs off
 * the controller's event loop, one at a time.
 */
import { serveJobs } from '../job-thread.js';
import { createLocalTranscoder, type TranscodeJob } from './transcode.js';

const notify = serveJobs<TranscodeJob>(async (job) => {
  if (job.op === 'transcode') {
    const outputs = await local.transcode(job.input, job.targets);
    return { result: outputs, transfer: outputs.map((o) => o.bytes.buffer as ArrayBuffer) };
  }
  const samples = await local.decode(job.input, job.sampleRate, job.maxSeconds);
  return { result: samples, transfer: [samples.buffer as ArrayBuffer] };
});

/** The one line the transcoder logs goes to the controller's log. */
const local = createLocalTranscoder({ log: { info: (obj, msg) => notify({ log: { obj, msg } }) } });
