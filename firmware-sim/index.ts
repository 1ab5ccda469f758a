/**
 * The loalang receiver simulator: a real MQTT client that downloads real bytes, usable as a
 * library in tests and as the reference receiver behaviour for hardware vendors.
 */
export { AudioCache } from './cache.js';
export { DelayLine, type OneWayDelays, ownTime } from './clockmodel.js';
export { type DownloadFaults, type DownloadResult, downloadAudio } from './download.js';
export { type Fleet, type FleetOptions, fleetIds, startFleet } from './fleet.js';
export { CommandVerifier } from './inbound.js';
export {
  fetchTrustedKeys,
  readTrustedKeys,
  type SigningKeyInfo,
  signingKeyInfoSchema,
  trustedKeysFromInfo,
} from './keys.js';
export type { NowPlaying, PlayedEntry } from './player/player.js';
export { PlayQueue } from './player/queue.js';
export {
  optionsFromBundle,
  type ProvisioningBundle,
  parseProvisioning,
  readProvisioning,
  registerReceivers,
  trustedKeysFromBundle,
} from './provisioning.js';
export { SimReceiver } from './receiver.js';
export { notSyncing } from './timelink.js';
export { ClockSync, type ClockSyncOptions, type SyncState } from './timesync.js';
export {
  type Estimate,
  type EstimatorOptions,
  OffsetEstimator,
  sampleOf,
  type TimeSample,
} from './timesync-estimate.js';
export {
  DEFAULT_SIM_CODECS,
  type SimFaults,
  type SimReceiverEventMap,
  type SimReceiverOptions,
} from './types.js';
