/** Types shared by the HTTP layer. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AuthService, User } from '../auth/service.js';
import type { Config } from '../config.js';
import type { AnnouncementServiceFull } from '../domain/announcements/service.js';
import type { ApprovalService } from '../domain/approvals/service.js';
import type { AudioLibrary } from '../domain/audio/library.js';
import type { RenditionService } from '../domain/audio/renditions.js';
import type { BulletinService } from '../domain/bulletins/service.js';
import type { CapService } from '../domain/cap/service.js';
import type { Fleet } from '../domain/fleet/fleet.js';
import type { ProvisioningContext } from '../domain/fleet/provisioning.js';
import type { ScheduleService } from '../domain/programs/service.js';
import type { SiteLoader } from '../domain/programs/site-apply.js';
import type { SpeechService } from '../domain/tts/speech.js';
import type { KeyRotation, SigningKeys } from '../signing-keys.js';
import type { Db } from '../storage/db.js';
import type { Audit } from './audit.js';

/** Everything a route may use, built by the Controller and handed to the app. */
export interface Services {
  config: Config;
  db: Db;
  auth: AuthService;
  audit: Audit;
  /** key binding CSRF tokens to sessions (derived from the data directory's secrets) */
  csrfKey: Buffer;
  audio: AudioLibrary;
  /** the small speech renditions of library audio (absent in tests that build a bare app) */
  renditions?: RenditionService | undefined;
  fleet: Fleet;
  bulletins: BulletinService;
  approvals: ApprovalService;
  /** urgent announcements (text or recording → bulletin) and their reach */
  announcements: AnnouncementServiceFull;
  /** CAP 1.2 alerts in (POST /api/cap, the optional feed) */
  cap: CapService;
  /** text-to-speech (null when TTS_PROVIDER=off) */
  tts?: SpeechService | null;
  /** programs, airings and the receivers' schedules */
  schedules: ScheduleService;
  /** the schedules folder */
  site: SiteLoader;
  /** the controller's command-signing keys */
  signingKeys: SigningKeys;
  /** key rotation (GET/POST /api/system/signing-keys…) */
  keyRotation: KeyRotation;
  /** whether the controller's MQTT client is connected to the broker */
  mqttConnected(): boolean;
  /** what goes into a receiver's provisioning bundle besides its credentials */
  provisioning: ProvisioningContext;
}

export type RoutePlugin = FastifyPluginAsyncZod<{ services: Services }>;

declare module 'fastify' {
  interface FastifyRequest {
    /** what the audit line names when the route has no :id (e.g. the stop a POST /api/stop made) */
    auditSubject?: string;
    /** the authenticated officer; set by the auth hook on every non-public route */
    user?: User;
    /** the Idempotency-Key this request holds (src/http/idempotency.ts); replayed: a kept answer was sent */
    idempotency?: { userId: string; key: string; fingerprint: string; replayed: boolean };
  }
  interface FastifyContextConfig {
    /** true: no bearer token needed (health, login, the public key, signed audio URLs) */
    public?: boolean;
    /**
     * takes an Idempotency-Key header (src/http/idempotency.ts); `ignore`: top-level body fields
     * that do not make it another request (a confirmation PIN)
     */
    idempotent?: { ignore?: readonly string[] };
  }
}
