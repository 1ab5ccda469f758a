/**
 * An operator-supplied engine run as a command (TTS_PROVIDER=command), Piper-style: the text on
 * stdin, a WAV file out. For Piper with a Vietnamese voice (e.g. vi_VN-vais1000-medium.onnx):
 *
 *   TTS_COMMAND=/opt/piper/piper
 *   TTS_MODEL=/opt/piper/vi_VN-vais1000-medium.onnx
 *   (TTS_COMMAND_ARGS default: --model {model} --output_file {output} --length_scale {lengthScale})
 *
 * Placeholders in the arguments: {model}, {output} (a temp file read back; without it the WAV is
 * read from stdout), {voice} (TTS_VOICES name, default north|central|south), {speed}, {lengthScale}
 * (1/speed). TTS_MODEL may itself hold {voice} for one model per region. The command runs without
 * a shell; the text never becomes an argument.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { SynthesisRequest, SynthesisResult, TtsProvider, Voice } from './provider.js';
import { ttsUnavailable } from './provider.js';

export const PIPER_ARGS = [
  '--model',
  '{model}',
  '--output_file',
  '{output}',
  '--length_scale',
  '{lengthScale}',
];

export interface CommandProviderOptions {
  command: string;
  args?: string[] | undefined;
  model?: string | undefined;
  voices?: Partial<Record<Voice, string>> | undefined;
  timeoutMs: number;
  /** where output files are written (default the system temp dir) */
  tempDir?: string | undefined;
  maxBytes?: number;
}

export function createCommandProvider(opts: CommandProviderOptions): TtsProvider {
  const args = opts.args ?? PIPER_ARGS;
  const maxBytes = opts.maxBytes ?? 100 * 1024 * 1024;
  const name = `command ${basename(opts.command)}`;
  const fail = (what: string) => ttsUnavailable(name, what);
  const modelFor = (voice: string) => opts.model?.replaceAll('{voice}', voice);

  /** What is missing, or null: the command (executable) and the model file of `voice`. */
  function missing(voice: string): string | null {
    try {
      accessSync(opts.command, constants.X_OK);
    } catch {
      return existsSync(opts.command)
        ? `TTS_COMMAND ${opts.command} is not executable`
        : `TTS_COMMAND ${opts.command} does not exist`;
    }
    const model = modelFor(voice);
    if (model !== undefined) {
      if (!existsSync(model)) return `the model file ${model} (TTS_MODEL) does not exist`;
      if (!statSync(model).isFile()) return `the model ${model} (TTS_MODEL) is not a file`;
    }
    return null;
  }

  return {
    // the model's name: another model makes other audio, never the cached one
    id: `command:${basename(opts.model ?? opts.command)}`,
    async check() {
      return missing(opts.voices?.north ?? 'north');
    },
    synthesize({ text, voice, speed }: SynthesisRequest): Promise<SynthesisResult> {
      const v = opts.voices?.[voice] ?? voice;
      const problem = missing(v);
      if (problem) return Promise.reject(fail(problem));
      const output = join(opts.tempDir ?? tmpdir(), `loalang-tts-${randomUUID()}.wav`);
      const toFile = args.some((a) => a.includes('{output}'));
      const filled = args.map((a) =>
        a
          .replaceAll('{model}', modelFor(v) ?? '')
          .replaceAll('{output}', output)
          .replaceAll('{voice}', v)
          .replaceAll('{speed}', String(speed))
          .replaceAll('{lengthScale}', (1 / speed).toFixed(3)),
      );
      return new Promise<SynthesisResult>((resolve, reject) => {
        const child = spawn(opts.command, filled, { stdio: ['pipe', 'pipe', 'pipe'] });
        const out: Buffer[] = [];
        let outSize = 0;
        let stderr = '';
        let settled = false;
        const finish = (err: Error | null, result?: SynthesisResult) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          rmSync(output, { force: true });
          if (err) reject(err);
          else resolve(result!);
        };
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          finish(fail(`no answer within ${opts.timeoutMs} ms (the command was stopped)`));
        }, opts.timeoutMs);
        child.stdout.on('data', (c: Buffer) => {
          outSize += c.length;
          if (outSize > maxBytes) {
            child.kill('SIGKILL');
            finish(fail(`the command wrote more than ${maxBytes} bytes`));
          } else if (!toFile) out.push(c);
        });
        child.stderr.on('data', (c: Buffer) => {
          stderr = (stderr + c.toString('utf8')).slice(-2000);
        });
        child.on('error', (err) => finish(fail(`the command could not run (${err.message})`)));
        child.on('close', (code, signal) => {
          if (code !== 0) {
            const tail = stderr.trim().split('\n').slice(-3).join(' | ');
            return finish(
              fail(
                `the command exited with ${signal ?? `code ${code}`}${tail ? `: ${tail.slice(0, 300)}` : ''}`,
              ),
            );
          }
          let bytes: Buffer;
          try {
            bytes = toFile ? readFileSync(output) : Buffer.concat(out);
          } catch {
            return finish(fail(`the command wrote no output file ${output}`));
          }
          if (bytes.length === 0) return finish(fail('the command wrote no audio'));
          finish(null, { bytes, mime: 'audio/wav' });
        });
        // A command that does not read its stdin closes it early: that is its business.
        child.stdin.on('error', () => {});
        child.stdin.end(text, 'utf8');
      });
    },
  };
}
