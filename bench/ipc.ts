/**
 * The messages between the bench (parent) and its worker processes, over Node's IPC channel.
 * Every request carries a number; the worker answers each with `ok` or `error` for that number.
 */
import type { IClientOptions } from 'mqtt';
import { z } from 'zod';

const credentials = {
  username: z.string().optional(),
  password: z.string().optional(),
};

export const requestSchema = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('floorStart'),
    req: z.number(),
    url: z.string(),
    ...credentials,
    /** one raw MQTT client per id */
    clientIds: z.array(z.string()),
    pingTopic: z.string(),
    /** each client answers on `${pongPrefix}${clientId}` */
    pongPrefix: z.string(),
    /**
     * the schedule bench's floor: each client also subscribes to `${docPrefix}${clientId}` and
     * answers every message there with its first word on `${docPongPrefix}${clientId}`
     */
    docPrefix: z.string().optional(),
    docPongPrefix: z.string().optional(),
    concurrency: z.number().int().positive(),
  }),
  z.object({ op: z.literal('floorStop'), req: z.number() }),
  z.object({
    op: z.literal('fleetStart'),
    req: z.number(),
    brokerUrl: z.string(),
    /** GET /api/system/signing-key of the controller */
    keyUrl: z.string(),
    ids: z.array(z.string()),
    /** each receiver's MQTT password (username = its id), from its registration's provisioning bundle */
    passwords: z.array(z.string()),
    timeFactor: z.number().positive(),
    concurrency: z.number().int().positive(),
    /** how long each receiver may take to say it is adopted */
    adoptTimeoutMs: z.number().int().positive(),
    /** the codecs these receivers advertise (absent: the simulator's default, mp3 and opus) */
    codecs: z.array(z.string()).optional(),
  }),
  z.object({ op: z.literal('fleetStop'), req: z.number() }),
  /** every receiver of the fleet republishes its status every `ms` from now on */
  z.object({ op: z.literal('statusEvery'), req: z.number(), ms: z.number().int().min(100).max(3_600_000) }),
  /** the sha256 of what each receiver played for `bulletinId`: answers `data` = {sha256: receivers} */
  z.object({ op: z.literal('playedOf'), req: z.number(), bulletinId: z.string() }),
  /** every receiver forgets the audio it holds, so the next play downloads again */
  z.object({ op: z.literal('clearCache'), req: z.number() }),
]);
export type WorkerRequest = z.infer<typeof requestSchema>;
/** A request as the parent writes it, before it is numbered. */
export type WorkerCommand = OmitReq<WorkerRequest>;
type OmitReq<T> = T extends unknown ? Omit<T, 'req'> : never;

export const replySchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('ok'),
    req: z.number(),
    /** protocol errors the simulators raised so far (their own payloads breaking the contract) */
    protocolErrors: z.number().int().default(0),
    /** what a query op answers */
    data: z.unknown().optional(),
  }),
  z.object({ type: z.literal('error'), req: z.number(), message: z.string() }),
]);
export type WorkerReply = z.infer<typeof replySchema>;

/**
 * Options of the bench's raw MQTT clients (floor clients, the parent's client): no reconnection,
 * and, like the simulated receivers, no mqtt.js per-packet debug tracing, so both kinds of round
 * pay the same.
 */
export function rawClientOptions(
  clientId: string,
  auth: { username?: string | undefined; password?: string | undefined } | null,
): IClientOptions {
  return {
    clientId,
    protocolVersion: 4,
    clean: true,
    keepalive: 60,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    log: () => {},
    ...(auth?.username !== undefined ? { username: auth.username } : {}),
    ...(auth?.password !== undefined ? { password: auth.password } : {}),
  };
}
