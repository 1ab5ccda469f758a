/**
 * Starts a real Mosquitto for a test suite: its own config file, a free loopback port, stopped by
 * its process id. Never assumes a broker is running (src/mqtt/mosquitto-process.ts).
 *
 * Where the binary is absent the suite is skipped with a visible notice, unless
 * LOALANG_REQUIRE_MOSQUITTO=1 (set by .ci/run), which turns the absence into a failure.
 */
import { findMosquitto } from '../../src/mqtt/mosquitto-process.js';

export {
  findMosquitto,
  freePort,
  MOSQUITTO_TUNING,
  type MosquittoHandle,
  startMosquitto,
} from '../../src/mqtt/mosquitto-process.js';

/** True when the Mosquitto suites should run; prints why not otherwise, or throws in CI. */
export function mosquittoAvailable(): boolean {
  if (findMosquitto()) return true;
  if (process.env.LOALANG_REQUIRE_MOSQUITTO === '1') {
    throw new Error(
      'mosquitto binary not found but LOALANG_REQUIRE_MOSQUITTO=1: install it (apt-get install -y mosquitto)',
    );
  }
  console.warn(
    '\n*** NOTICE: mosquitto binary not found: Mosquitto test suites are SKIPPED (apt-get install -y mosquitto) ***\n',
  );
  return false;
}
