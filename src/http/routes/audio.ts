/**
 * The audio library over HTTP: upload (multipart), list, get, delete, the speech renditions (small
 * mono copies for 4G), and the content download — of the original or of a rendition — with Range
 * and ETag that both operators (bearer token) and receivers (signed URL plus their device
 * credentials over HTTP Basic) use.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
// Types only: request.parts() and friends (the plugin itself is registered by the app).
import type {} from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { decideRange, ifRangeAllows, noneMatch } from '../../domain/audio/http-range.js';
import type { AudioRecord, StagedUpload } from '../../domain/audio/library.js';
import type { Rendition } from '../../domain/audio/renditions.js';
import { RENDITION_CODECS } from '../../domain/audio/transcode.js';
import { AppError, badRequest, notFound } from '../../errors.js';
import { sessionToken } from '../auth-hook.js';
import { errorBodySchema } from '../errors.js';
import type { RoutePlugin } from '../types.js';

/** The AudioRecord as the API shows it (OpenAPI component "Audio"). */
export const audioSchema = z
  .object({
    id: z.string(),
    sha256: z.string().describe('hex SHA-256 of the bytes; also the strong ETag of the content'),
    name: z.string().describe('display name'),
    mime: z
      .string()
      .describe('detected from the content: audio/mpeg, audio/ogg, audio/wav, audio/mp4, audio/webm'),
    container: z.string().nullable(),
    codec: z.string().nullable(),
    durationMs: z
      .number()
      .int()
      .nullable()
      .describe(
        'milliseconds; null when the stored duration is not plausible (a file stored by an older version ' +
          'from a damaged file): such audio is listed and served, but bulletins refuse it (409 audio_unplayable)',
      ),
    bitrate: z.number().int().nullable().describe('bits per second'),
    sampleRate: z.number().int().nullable(),
    channels: z.number().int().nullable(),
    size: z.number().int().describe('bytes'),
    createdAt: z.string(),
    createdBy: z.string().nullable().describe('id of the user who uploaded it'),
    source: z.string().describe("'upload', 'recording' (a browser recording that was remuxed) or 'tts'"),
    original: z
      .object({ sha256: z.string(), mime: z.string() })
      .nullable()
      .describe(
        'the bytes that arrived, kept when a browser recording was remuxed (GET /api/audio/{id}/original)',
      ),
  })
  .meta({ id: 'Audio' });

/** A speech rendition as the API shows it (OpenAPI component "Rendition"). */
export const renditionSchema = z
  .object({
    codec: z.enum(RENDITION_CODECS).describe('opus (Opus in Ogg) or mp3; the name receivers advertise'),
    mime: z.string(),
    sha256: z.string(),
    size: z.number().int().describe('bytes'),
    bitrate: z
      .number()
      .int()
      .describe('bits per second of the constant-bitrate encoding (headers come on top)'),
    durationMs: z.number().int(),
    sampleRate: z.number().int().nullable(),
    channels: z.number().int().nullable(),
    encodeMs: z.number().int().nullable().describe('time the job that made it took (all renditions at once)'),
    createdAt: z.string(),
  })
  .meta({ id: 'Rendition' });

const toRenditionBody = ({ audioId: _a, ...r }: Rendition) => r;

/** One audio with its renditions (GET /api/audio/:id). */
const audioDetailSchema = audioSchema.extend({
  renditions: z
    .array(renditionSchema)
    .describe(
      'small mono copies sent to receivers that play them (smallest first); empty until made ' +
        '(in the background after an upload of speech above 40 kbit/s or stereo, or when a bulletin uses it)',
    ),
  renditionsPending: z.boolean().describe('whether they are being made now'),
});

const uploadResultSchema = z.object({
  audio: audioSchema,
  created: z.boolean().describe('false when the same bytes were already in the library'),
});
/** Documents the multipart body; not validated (the handler streams the parts itself). */
const uploadBodySchema = z.object({
  name: z.string().max(200).optional().describe('display name; default: the file name'),
  file: z.file().describe('the audio file'),
});
const idParams = z.object({ id: z.string().min(1).max(100) });
const renditionParams = idParams.extend({ codec: z.enum(RENDITION_CODECS) });
const contentQuery = z.object({
  exp: z.string().optional().describe('signed URL: expiry, Unix seconds'),
  sig: z.string().optional().describe('signed URL: base64url HMAC-SHA256'),
});

/** Text fields read in one upload; more is refused before any file is read. Only "name" is used. */
export const UPLOAD_MAX_FIELDS = 10;
/** RFC 2046 §5.1.1: a boundary has 1 to 70 characters. */
const MAX_BOUNDARY_LENGTH = 70;
const BOUNDARY_PARAM = /;\s*boundary=(?:"([^"]*)"|([^;\s]*))/i;

/** Refuses a multipart Content-Type without a usable boundary, before the body is parsed. */
function checkBoundary(contentType: string | undefined): void {
  const m = contentType ? BOUNDARY_PARAM.exec(contentType) : null;
  const boundary = m ? (m[1] ?? m[2] ?? '') : '';
  if (!boundary) {
    throw badRequest(
      'bad_multipart',
      'The Content-Type has no multipart boundary ("multipart/form-data; boundary=…"); let your HTTP ' +
        'client build the form (e.g. curl -F file=@bulletin.mp3).',
    );
  }
  if (boundary.length > MAX_BOUNDARY_LENGTH) {
    throw badRequest(
      'bad_multipart',
      `The multipart boundary has ${boundary.length} characters; at most ${MAX_BOUNDARY_LENGTH} are allowed (RFC 2046 §5.1.1).`,
    );
  }
}

/** An error while parsing the multipart body, as an AppError a client can act on. */
function multipartError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as { code?: unknown; message?: unknown };
  switch (e.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new AppError(
        413,
        'too_large',
        'The file is larger than the upload limit; shorten or compress it.',
      );
    case 'FST_FILES_LIMIT':
      return badRequest('bad_multipart', 'Send exactly one file, in the field "file".');
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return badRequest(
        'too_many_fields',
        `Too many form fields: send at most ${UPLOAD_MAX_FIELDS} text fields (only "name" is used) and the file in the field "file".`,
      );
    default:
      return badRequest(
        'bad_multipart',
        `The multipart body is malformed (${String(e.message ?? err)}); let your HTTP client build the form.`,
      );
  }
}

/** What an upload attempt came to, for its audit line. */
interface UploadOutcome {
  file?: string;
  audioId?: string;
  created?: boolean;
  error?: string;
  message?: string;
}

/** The `{ error, message }` of an error body already serialised, or nothing. */
function errorOf(payload: unknown): Pick<UploadOutcome, 'error' | 'message'> {
  if (typeof payload !== 'string') return {};
  try {
    const body = JSON.parse(payload) as { error?: unknown; message?: unknown };
    return {
      ...(typeof body.error === 'string' ? { error: body.error } : {}),
      ...(typeof body.message === 'string' ? { message: body.message.slice(0, 500) } : {}),
    };
  } catch {
    return {};
  }
}

/** `Authorization: Basic …` as username and password, or null. */
function basicCredentials(header: string | undefined): { username: string; password: string } | null {
  const m = header ? /^Basic\s+([A-Za-z0-9+/=]{1,512})$/i.exec(header) : null;
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 ? { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) } : null;
}

/** What a client without valid receiver credentials is told to send. */
const BASIC_CHALLENGE = 'Basic realm="loalang receivers", charset="UTF-8"';

/** How long clients may keep a copy; the bytes behind an id never change. */
const CACHE_CONTROL = 'private, max-age=86400';

const EXTENSIONS: Record<string, string> = {
  'audio/mpeg': 'mp3',
  'audio/ogg': 'ogg',
  'audio/wav': 'wav',
  'audio/mp4': 'm4a',
  'audio/webm': 'webm',
};

/** `inline` with an ASCII fallback and the UTF-8 name (RFC 6266), e.g. for Vietnamese names. */
function contentDisposition(displayName: string, mime: string): string {
  const ext = EXTENSIONS[mime];
  const name = ext && !displayName.toLowerCase().endsWith(`.${ext}`) ? `${displayName}.${ext}` : displayName;
  const ascii =
    name
      .normalize('NFKD')
      .replace(/[^\x20-\x7e]/g, '')
      .replace(/["\\]/g, '_') || 'audio';
  const utf8 = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `inline; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}

/** What a content download serves: the original, or one of its renditions. */
interface ServedFile {
  path: string;
  sha256: string;
  mime: string;
  disposition: string;
  /** the error when the file is not on disk (deleted meanwhile: 404; lost: 500) */
  missing: (err: unknown) => AppError;
}

/** The stored file's size, or the error saying what is wrong when it is gone. */
async function storedSize(file: ServedFile): Promise<number> {
  try {
    return (await stat(file.path)).size;
  } catch (err) {
    throw file.missing(err);
  }
}

/** Serves a stored file with ETag, If-None-Match, If-Range and one byte range. */
async function serveFile(request: FastifyRequest, reply: FastifyReply, file: ServedFile) {
  const size = await storedSize(file);
  const etag = `"${file.sha256}"`;
  reply.header('etag', etag).header('cache-control', CACHE_CONTROL).header('accept-ranges', 'bytes');
  if (noneMatch(request.headers['if-none-match'], etag)) return reply.code(304).send(null);

  const ifRange = request.headers['if-range'];
  const range = ifRangeAllows(Array.isArray(ifRange) ? ifRange[0] : ifRange, etag)
    ? decideRange(request.headers.range, size)
    : ({ kind: 'full' } as const);
  if (range.kind === 'unsatisfiable') {
    return reply
      .code(416)
      .header('content-range', `bytes */${size}`)
      .send({
        error: 'range_not_satisfiable',
        message: `The audio has ${size} bytes; ask for a range within them.`,
      });
  }
  reply
    .header('content-type', file.mime)
    .header('content-disposition', file.disposition)
    .header('x-content-type-options', 'nosniff');
  const { start, end } = range.kind === 'partial' ? range : { start: 0, end: size - 1 };
  if (range.kind === 'partial') reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
  reply.header('content-length', end - start + 1);
  if (request.method === 'HEAD') return reply.send();
  return reply.send(createReadStream(file.path, { start, end }));
}

const contentResponses = {
  200: z.unknown().describe('the audio bytes, Content-Type as detected'),
  206: z.unknown().describe('the requested byte range'),
  304: z.null().describe('not modified'),
  401: errorBodySchema,
  403: errorBodySchema,
  404: errorBodySchema,
  416: errorBodySchema,
};

const routes: RoutePlugin = async (app, { services }) => {
  const lib = services.audio;
  const renditions = services.renditions;

  // Every upload attempt is audited here, refused ones with their reason (the app's audit hook
  // skips this route): who tried to put what into the library is the question after an incident.
  const outcomes = new WeakMap<FastifyRequest, UploadOutcome>();
  const audited = new WeakSet<FastifyRequest>();
  const outcome = (request: FastifyRequest): UploadOutcome => {
    const known = outcomes.get(request);
    if (known) return known;
    const fresh: UploadOutcome = {};
    outcomes.set(request, fresh);
    return fresh;
  };
  const auditUpload = (request: FastifyRequest, status: number | null): void => {
    if (audited.has(request)) return;
    audited.add(request);
    const { audioId, ...rest } = outcomes.get(request) ?? {};
    const detail = status === null ? { status, error: 'aborted', ...rest } : { status, ...rest };
    if (status === null) detail.message ??= 'The connection closed before the upload was complete.';
    services.audit.record(request, `POST ${request.routeOptions.url}`, audioId ?? null, null, detail);
  };

  /** Stages the file, cut short when the connection closes before the body is complete. */
  async function stageFile(
    request: FastifyRequest,
    file: NodeJS.ReadableStream & { destroy(err?: Error): void },
  ) {
    const onClose = () => {
      if (!request.raw.complete)
        file.destroy(new Error('the connection closed before the upload was complete'));
    };
    request.raw.once('close', onClose);
    try {
      if (request.raw.destroyed) onClose();
      return await lib.stage(file);
    } finally {
      request.raw.removeListener('close', onClose);
    }
  }

  app.post(
    '',
    {
      // The body is a multipart stream read in the handler; its schema is documentation only.
      validatorCompiler: ({ httpPart }) => {
        if (httpPart !== 'body') throw new Error(`POST /api/audio: add validation for its ${httpPart}`);
        return () => true;
      },
      onSend: async (request, reply, payload) => {
        if (reply.statusCode >= 400) Object.assign(outcome(request), errorOf(payload));
        return payload;
      },
      onResponse: async (request, reply) => auditUpload(request, reply.statusCode),
      onRequestAbort: async (request) => auditUpload(request, null),
      schema: {
        tags: ['audio'],
        summary: 'Upload an audio file (multipart: field "file", optional text field "name")',
        description:
          'Accepts MP3, Ogg/Opus, Ogg/Vorbis, WAV (PCM), M4A/AAC and WebM/Opus, detected from the content, ' +
          'and browser recordings as MediaRecorder makes them (WebM/Opus, Ogg/Opus, MP4 with Opus or AAC): a ' +
          'WebM without a duration, Opus in MP4 or a fragmented MP4 is remuxed (packets copied) to Ogg/Opus ' +
          "or M4A and the upload is kept as `original`. Safari's AAC plays where receivers play AAC; for the " +
          'small 4G renditions decode it in the browser and upload WAV (no AAC decoder ships in npm). ' +
          'The same bytes uploaded again return the stored audio with 200 and created=false. ' +
          'Nothing is stored unless the answer is 200 or 201. Refusals: 400 multipart_required, ' +
          'bad_multipart (no or over-long boundary, a second file, a malformed body), too_many_fields ' +
          `(over ${UPLOAD_MAX_FIELDS}), missing_file (none, or a file part without a file name), empty_file, ` +
          'upload_failed (the body stopped arriving), unreadable_audio (also a recording that cannot be remuxed), implausible_audio (a duration the ' +
          "file's size cannot hold, such as a damaged last Ogg page), audio_too_long (over " +
          'AUDIO_MAX_DURATION_S); 413 too_large (over UPLOAD_MAX_BYTES); 415 unsupported_media. A body on ' +
          'which nothing arrives for HTTP_IDLE_TIMEOUT_S is cut off.',
        consumes: ['multipart/form-data'],
        body: uploadBodySchema,
        response: {
          200: uploadResultSchema,
          201: uploadResultSchema,
          400: errorBodySchema,
          413: errorBodySchema,
          415: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) {
        throw badRequest(
          'multipart_required',
          'Send the audio as multipart/form-data with the file in the field "file" (and optionally a text field "name").',
        );
      }
      checkBoundary(request.headers['content-type']);
      const seen = outcome(request);
      let name: string | undefined;
      let fields = 0;
      let staged: StagedUpload | undefined;
      try {
        // Our own field limit sits below busboy's: past its limit @fastify/multipart stops feeding a
        // file already handed out, which then never ends (issue 7: no answer, a 0-byte .part left).
        for await (const part of request.parts({ limits: { fields: UPLOAD_MAX_FIELDS + 1, files: 2 } })) {
          if (part.type === 'file') {
            if (part.fieldname !== 'file' || staged) {
              part.file.resume();
              throw badRequest(
                'bad_multipart',
                `Send exactly one file, in the field "file" (got ${staged ? 'a second file' : 'a file'} in "${part.fieldname}").`,
              );
            }
            if (!part.filename) {
              part.file.resume();
              throw badRequest(
                'missing_file',
                'The file part has no file name (was a file chosen?); send the audio in the field "file" with its file name.',
              );
            }
            seen.file = part.filename.slice(0, 200);
            staged = await stageFile(request, part.file);
          } else {
            if (++fields > UPLOAD_MAX_FIELDS) {
              throw badRequest(
                'too_many_fields',
                `Too many form fields: send at most ${UPLOAD_MAX_FIELDS} text fields (only "name" is used) and the file in the field "file".`,
              );
            }
            if (part.fieldname === 'name' && typeof part.value === 'string') name = part.value;
          }
        }
      } catch (err) {
        if (staged) lib.discard(staged);
        throw multipartError(err);
      }
      if (!staged)
        throw badRequest('missing_file', 'No file received: put the audio in the multipart field "file".');
      // Only now, with the whole body read and accepted, does the upload enter the library.
      const result = lib.commit(staged, { filename: seen.file, name, userId: request.user?.id });
      Object.assign(seen, { audioId: result.audio.id, created: result.created });
      // Speech worth shrinking gets its small 4G copies in the background.
      if (result.created) renditions?.offer(result.audio);
      const status = result.created ? 201 : 200;
      // Audited now, not when the answer is sent: the audio is in the library even if the client
      // has gone by then (no answer is sent, and so no onResponse comes).
      auditUpload(request, status);
      return reply.code(status).send(result);
    },
  );

  app.get(
    '',
    {
      schema: {
        tags: ['audio'],
        summary: 'Audio in the library, newest first',
        response: { 200: z.object({ items: z.array(audioSchema) }) },
      },
    },
    async () => ({ items: lib.list() }),
  );

  app.get(
    '/:id',
    {
      schema: {
        tags: ['audio'],
        summary: 'One audio, with its renditions',
        params: idParams,
        response: { 200: audioDetailSchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const audio = lib.require(request.params.id);
      return {
        ...audio,
        renditions: (renditions?.list(audio.id) ?? []).map(toRenditionBody),
        renditionsPending: renditions?.busy(audio.id) ?? false,
      };
    },
  );

  app.post(
    '/:id/renditions',
    {
      schema: {
        tags: ['audio'],
        summary: 'Make the renditions of an audio now (unless they exist), and answer them',
        description:
          'Decodes the original once and encodes Opus/Ogg 24 kbit/s and MP3 32 kbit/s, mono. Idempotent: ' +
          'existing renditions are answered at once, a job already running is joined. 415 no_decoder when ' +
          'the original cannot be decoded here (AAC: no decoder ships with the controller; upload WAV or ' +
          'MP3/Ogg instead) — the original still plays; 422 rendition_too_long beyond RENDITION_MAX_DURATION_S.',
        params: idParams,
        response: {
          200: z.object({ items: z.array(renditionSchema) }),
          404: errorBodySchema,
          415: errorBodySchema,
          422: errorBodySchema,
          503: errorBodySchema,
        },
      },
    },
    async (request) => {
      if (!renditions)
        throw new AppError(503, 'renditions_unavailable', 'Renditions are not available here.');
      return { items: (await renditions.ensure(request.params.id)).map(toRenditionBody) };
    },
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags: ['audio'],
        summary: 'Delete an audio (refused while an active bulletin uses it)',
        params: idParams,
        response: { 204: z.null(), 404: errorBodySchema, 409: errorBodySchema },
      },
    },
    async (request, reply) => {
      lib.delete(request.params.id);
      return reply.code(204).send(null);
    },
  );

  /**
   * Lets an officer (bearer token or session cookie) or an adopted receiver holding a valid signed
   * URL for `id` (and `rendition`) through; throws 401/403 otherwise.
   */
  async function authorizeContent(
    request: FastifyRequest,
    reply: FastifyReply,
    id: string,
    query: { exp?: string | undefined; sig?: string | undefined },
    rendition?: string,
  ): Promise<void> {
    const { exp, sig } = query;
    // An officer previews with a bearer token or the web UI's session cookie (a GET: no CSRF).
    const presented = sessionToken(request);
    const user = presented ? services.auth.sessions.verify(presented.token, presented.kind) : null;
    if (user) {
      request.user = user;
      return;
    }
    if (exp !== undefined || sig !== undefined) {
      // A signed URL is bound to the receivers: only one holding live credentials, and adopted,
      // may use it, so a leaked URL alone is worth nothing.
      const device = basicCredentials(request.headers.authorization);
      const receiverId = device ? await services.fleet.verifyDevice(device.username, device.password) : null;
      if (!receiverId || !services.fleet.brokerRights(receiverId)?.adopted) {
        if (device)
          request.log.warn({ username: device.username.slice(0, 64) }, 'audio: receiver credentials refused');
        reply.header('www-authenticate', BASIC_CHALLENGE);
        throw new AppError(
          401,
          'unauthorized',
          device
            ? 'These receiver credentials are not valid (unknown, re-issued or revoked, or the receiver is not adopted).'
            : 'A signed audio URL is for receivers: send their credentials with `Authorization: Basic`.',
        );
      }
      if (!lib.verifySignedUrl(id, exp, sig, rendition)) {
        throw new AppError(
          403,
          'bad_signature',
          'This audio link has expired or is not valid; ask for a new one.',
        );
      }
      return;
    }
    throw new AppError(
      401,
      'unauthorized',
      presented
        ? 'Your session has expired; log in again.'
        : 'Send `Authorization: Bearer TOKEN` or use a signed audio URL.',
    );
  }

  /** The error for a file missing from the store: 404 if its audio went meanwhile, else 500. */
  const missingFile =
    (audio: AudioRecord, what: string) =>
    (err: unknown): AppError => {
      if (!lib.get(audio.id)) return notFound('Audio', audio.id);
      app.log.error({ err, id: audio.id, what }, 'audio file missing from the store');
      return new AppError(
        500,
        'audio_file_missing',
        `The file of ${what} "${audio.id}" is missing on the server.`,
      );
    };

  app.route({
    method: ['GET', 'HEAD'],
    url: '/:id/content',
    config: { public: true },
    schema: {
      tags: ['audio'],
      summary:
        'Download the audio bytes (bearer token, or signed URL with receiver credentials; Range and If-None-Match supported)',
      description:
        'Needs either `Authorization: Bearer TOKEN` (an officer), or the exp and sig of a signed URL, as ' +
        'handed to receivers in play commands, together with `Authorization: Basic` carrying the ' +
        'credentials of an adopted receiver (its MQTT username and password). A signed URL alone is ' +
        'refused with 401. Answers 206 for one byte range, 304 when If-None-Match matches the ETag.',
      security: [{ bearer: [] }, { receiverBasic: [] }],
      params: idParams,
      querystring: contentQuery,
      response: contentResponses,
    },
    handler: async (request, reply) => {
      const { id } = request.params;
      await authorizeContent(request, reply, id, request.query);
      const audio = lib.require(id);
      return serveFile(request, reply, {
        path: lib.filePath(audio),
        sha256: audio.sha256,
        mime: audio.mime,
        disposition: contentDisposition(audio.name, audio.mime),
        missing: missingFile(audio, 'audio'),
      });
    },
  });

  app.get(
    '/:id/original',
    {
      schema: {
        tags: ['audio'],
        summary: 'Download the bytes of a browser recording as they arrived, before it was remuxed',
        description:
          'A WebM without a duration, Opus in MP4 or a fragmented MP4 is stored remuxed (Ogg/Opus or M4A) so ' +
          'that every receiver can play and seek it; the upload itself is kept and served here. 404 when the ' +
          'audio was stored as it arrived.',
        params: idParams,
        response: contentResponses,
      },
    },
    async (request, reply) => {
      const audio = lib.require(request.params.id);
      const path = lib.originalPath(audio);
      if (!path || !audio.original) throw notFound('Original recording', audio.id);
      return serveFile(request, reply, {
        path,
        sha256: audio.original.sha256,
        mime: audio.original.mime,
        disposition: contentDisposition(`${audio.name} (original)`, audio.original.mime),
        missing: missingFile(audio, 'the original of audio'),
      });
    },
  );

  app.route({
    method: ['GET', 'HEAD'],
    url: '/:id/renditions/:codec/content',
    config: { public: true },
    schema: {
      tags: ['audio'],
      summary:
        "Download a rendition's bytes (as the original's content: bearer token, or signed URL with receiver credentials)",
      description:
        'The signed URL of a rendition is the one a play command carries for a receiver that was picked ' +
        'this rendition (docs/protocol.md §7.3); its signature covers the codec. Range and If-None-Match ' +
        'as for the original. 404 when the audio or this rendition does not exist.',
      security: [{ bearer: [] }, { receiverBasic: [] }],
      params: renditionParams,
      querystring: contentQuery,
      response: contentResponses,
    },
    handler: async (request, reply) => {
      const { id, codec } = request.params;
      await authorizeContent(request, reply, id, request.query, codec);
      const audio = lib.require(id);
      const r = renditions?.get(id, codec);
      if (!r) throw notFound('Rendition', `${id}/${codec}`);
      return serveFile(request, reply, {
        path: renditions!.filePath(r),
        sha256: r.sha256,
        mime: r.mime,
        disposition: contentDisposition(`${audio.name} (${codec})`, r.mime),
        missing: missingFile(audio, `the ${codec} rendition of audio`),
      });
    },
  });
};
export default routes;
