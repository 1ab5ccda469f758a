/**
 * Broker callbacks: EMQX 5's HTTP authentication and HTTP authorization, answered from loalang's
 * own records with the one rule set of src/mqtt/acl.ts. Registered under /api/mqtt.
 *
 * The broker calls these, not an officer: they need no login (`public: true`) but every request
 * must carry the shared secret MQTT_HTTP_AUTH_SECRET in the `X-Loalang-Secret` header (compared in
 * constant time). Without MQTT_HTTP_AUTH_SECRET the routes answer 404: the feature is off.
 *
 * Response forms, after EMQX 5's documentation ("Use HTTP Service", access-control/authn/http and
 * access-control/authz/http): HTTP 200 with a JSON body `{"result": "allow" | "deny"}` (authn adds
 * `is_superuser`). loalang never answers `ignore`: it is the authority on its receivers, so an
 * unknown user is denied, not passed to the next authenticator. Any 4xx/5xx (a wrong secret, a
 * malformed body) is treated by EMQX as `ignore`, which is why docs/emqx.md sets
 * `authorization.no_match = deny` and lists no other source. Nobody gets `is_superuser: true`, not
 * even the controller: it gets an `acl` (EMQX 5.8+) allowing its topic root and nothing else, and
 * otherwise goes through the authorization endpoint like everyone.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { topics as makeTopics } from '../../contract/mqtt.js';
import { AppError } from '../../errors.js';
import { type MqttPrincipal, mayPublish, maySubscribe } from '../../mqtt/acl.js';
import { errorBodySchema } from '../errors.js';
import type { RoutePlugin } from '../types.js';

/** The header EMQX is configured to send (docs/emqx.md). */
export const MQTT_AUTH_SECRET_HEADER = 'x-loalang-secret';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();
/** Constant-time comparison of two strings of any length (their digests have the same length). */
function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

// EMQX renders every placeholder of a body template as a string; numbers and booleans are
// accepted in either form.
const qosSchema = z.union([z.number().int().min(0).max(2), z.enum(['0', '1', '2']).transform(Number)]);
const retainSchema = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

const authnBody = z.object({
  clientid: z.string().max(256).describe('the MQTT client id (EMQX placeholder clientid)'),
  username: z.string().max(256).describe('the username; empty when the client sent none'),
  password: z.string().max(1024).describe('the password, in clear: use HTTPS between EMQX and loalang'),
  peerhost: z.string().max(100).optional().describe('the client address, for the log'),
});

const authzBody = z.object({
  clientid: z.string().max(256),
  username: z.string().max(256),
  topic: z.string().min(1).max(1024).describe('the topic, or the topic filter of a subscription'),
  action: z.enum(['publish', 'subscribe']),
  qos: qosSchema.optional(),
  retain: retainSchema.optional(),
  peerhost: z.string().max(100).optional(),
});

const aclRule = z.object({
  permission: z.enum(['allow', 'deny']),
  action: z.enum(['publish', 'subscribe', 'all']),
  topic: z.string(),
});
const authnResult = z.object({
  result: z.enum(['allow', 'deny']),
  is_superuser: z.boolean(),
  acl: z
    .array(aclRule)
    .optional()
    .describe('EMQX ≥ 5.8: rules checked before any authorizer (given to the controller only)'),
});
const authzResult = z.object({ result: z.enum(['allow', 'deny']) });

const routes: RoutePlugin = async (app, { services }) => {
  const { config, fleet } = services;
  const secret = config.MQTT_HTTP_AUTH_SECRET;
  const t = makeTopics(config.MQTT_TOPIC_ROOT);
  const controllerUser = config.MQTT_USERNAME;
  const controllerPassword = config.MQTT_PASSWORD;

  // Before the body is parsed or validated: no secret, no answer about anything else.
  app.addHook('onRequest', async (request) => {
    if (!secret) {
      throw new AppError(
        404,
        'not_found',
        'The MQTT HTTP authentication endpoints are off: set MQTT_HTTP_AUTH_SECRET to use them.',
      );
    }
    const given = request.headers[MQTT_AUTH_SECRET_HEADER];
    if (typeof given !== 'string' || !sameSecret(given, secret)) {
      request.log.warn({ ip: request.ip }, 'mqtt auth: request without the right shared secret');
      throw new AppError(
        401,
        'unauthorized',
        `Send the shared secret MQTT_HTTP_AUTH_SECRET in the ${MQTT_AUTH_SECRET_HEADER} header.`,
      );
    }
  });

  const isController = (username: string) => controllerUser !== undefined && username === controllerUser;

  /** Who the (already authenticated) client is, by its username; null: nobody we know now. */
  function principalOf(username: string, clientid: string): MqttPrincipal | null {
    if (isController(username)) return { kind: 'controller' };
    // A receiver is its id: username and client id both. Another client id is not that receiver.
    if (clientid !== username) return null;
    if (!fleet.credentials.has(username)) return null; // revoked (or never issued)
    const rights = fleet.brokerRights(username);
    if (!rights) return null; // removed
    return { kind: 'receiver', receiverId: username, adopted: rights.adopted, zoneId: rights.zoneId };
  }

  const common = {
    config: { public: true, rateLimit: false as const },
    schema: {
      tags: ['mqtt broker'],
      security: [],
      headers: z.object({ [MQTT_AUTH_SECRET_HEADER]: z.string().optional() }),
    },
  };

  app.post(
    '/emqx/authn',
    {
      ...common,
      schema: {
        ...common.schema,
        summary: "EMQX 5 HTTP authentication: may this client connect? (the broker's callback)",
        description:
          'Called by EMQX for every MQTT CONNECT, with the shared secret in the X-Loalang-Secret header. ' +
          'Allows the controller (MQTT_USERNAME/MQTT_PASSWORD, client id MQTT_CLIENT_ID) and receivers ' +
          'whose live credentials match and whose client id is their receiver id. See docs/emqx.md.',
        body: authnBody,
        response: { 200: authnResult, 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const { clientid, username, password, peerhost } = request.body;
      const deny = (why: string) => {
        request.log.info({ clientid, username, peerhost, why }, 'mqtt authn: denied');
        return { result: 'deny' as const, is_superuser: false };
      };
      if (!username || !password) return deny('no username or password');
      if (isController(username)) {
        if (!controllerPassword || !sameSecret(password, controllerPassword))
          return deny('controller password');
        if (clientid !== config.MQTT_CLIENT_ID) return deny('controller with another client id');
        // Its whole root, checked by EMQX itself (5.8+): a fleet-wide emergency publishes to a
        // thousand receiver topics, which would otherwise be a thousand authorization calls.
        const acl = [{ permission: 'allow' as const, action: 'all' as const, topic: `${t.root}/#` }];
        return { result: 'allow' as const, is_superuser: false, acl };
      }
      if (clientid !== username) return deny('client id is not the username');
      const receiverId = await fleet.verifyDevice(username, password);
      if (receiverId !== username) return deny('unknown user, wrong or revoked password');
      if (!fleet.brokerRights(receiverId)) return deny('receiver removed');
      return { result: 'allow' as const, is_superuser: false };
    },
  );

  app.post(
    '/emqx/authz',
    {
      ...common,
      schema: {
        ...common.schema,
        summary:
          "EMQX 5 HTTP authorization: may this client publish or subscribe here? (the broker's callback)",
        description:
          'Called by EMQX for every PUBLISH and SUBSCRIBE it has not cached, with the shared secret in the ' +
          'X-Loalang-Secret header. Applies the rules of docs/protocol.md §4 (src/mqtt/acl.ts).',
        body: authzBody,
        response: { 200: authzResult, 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema },
      },
    },
    async (request) => {
      const { clientid, username, topic, action } = request.body;
      const p = principalOf(username, clientid);
      const ok = p !== null && (action === 'publish' ? mayPublish(t, p, topic) : maySubscribe(t, p, topic));
      if (!ok) request.log.info({ clientid, username, topic, action }, 'mqtt authz: denied');
      return { result: ok ? ('allow' as const) : ('deny' as const) };
    },
  );
};
export default routes;
