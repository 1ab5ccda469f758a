/** Types shared by the HTTP layer. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AuthService, User } from '../auth/service.js';
import type { Config } from '../config.js';
import type { SigningKey } from '../contract/signing.js';
import type { AudioLibrary } from '../domain/audio/library.js';
import type { BulletinService } from '../domain/bulletins/service.js';
import type { Fleet } from '../domain/fleet/fleet.js';
import type { Db } from '../storage/db.js';

/** Everything a route may use, built by the Controller and handed to the app. */
export interface Services {
  config: Config;
  db: Db;
  auth: AuthService;
  audio: AudioLibrary;
  fleet: Fleet;
  bulletins: BulletinService;
  signingKey: SigningKey;
  /** whether the controller's MQTT client is connected to the broker */
  mqttConnected(): boolean;
}

export type RoutePlugin = FastifyPluginAsyncZod<{ services: Services }>;

declare module 'fastify' {
  interface FastifyRequest {
    /** the authenticated user; set by the auth hook on every non-public route */
    user?: User;
  }
  interface FastifyContextConfig {
    /** true: no bearer token needed (health, login, the public key, signed audio URLs) */
    public?: boolean;
  }
}
