/**
 * Ways the kit starts the receiver under test itself (so that it can also restart it):
 * - `simLauncher`: the reference simulator in this process (`--sim`), optionally with deliberate
 *   violations (`--break`, firmware-sim/breaks.ts) to watch cases fail;
 * - `commandLauncher`: any command (`--launch "…{bundle}…"`), given the bundle's path: a vendor's
 *   own simulator, or a script that loads the bundle onto a box and power-cycles it. Stopping it
 *   sends SIGTERM to its process group, then SIGKILL after 5 s.
 */
import { spawn } from 'node:child_process';
import type { SimBreak } from '../../firmware-sim/breaks.js';
import { SimReceiver } from '../../firmware-sim/index.js';
import { optionsFromBundle } from '../../firmware-sim/provisioning.js';
import type { SimReceiverOptions } from '../../firmware-sim/types.js';
import type { ReceiverLauncher } from './kit.js';

export function simLauncher(
  opts: {
    breaks?: readonly SimBreak[];
    /** more simulator options (its link's delays, say) */
    receiver?: Partial<SimReceiverOptions>;
  } = {},
): ReceiverLauncher {
  // One receiver across restarts: what it keeps is its "non-volatile memory".
  let rx: SimReceiver | null = null;
  return {
    async start(bundle) {
      // The time exchange on, as a firmware does it (docs/protocol.md §14): the kit checks it.
      if (rx) rx.setCredentials(bundle.mqtt.username, bundle.mqtt.password);
      rx ??= new SimReceiver({
        ...optionsFromBundle(bundle),
        timeSync: true,
        breaks: opts.breaks ?? [],
        ...opts.receiver,
      });
      const r = rx;
      // Not awaited: a box powered up where its link is down boots all the same (the kit watches
      // for its online status itself).
      r.start().catch(() => undefined);
      return { stop: () => r.stop() };
    },
  };
}

export function commandLauncher(command: string, log: (line: string) => void = () => {}): ReceiverLauncher {
  return {
    async start(_bundle, bundlePath) {
      const line = command.replaceAll('{bundle}', bundlePath);
      log(`launching: ${line}`);
      const child = spawn(line, { shell: true, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      return {
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
          const group = -child.pid;
          try {
            process.kill(group, 'SIGTERM');
          } catch {
            return;
          }
          const timer = setTimeout(() => {
            try {
              process.kill(group, 'SIGKILL');
            } catch {
              // already gone
            }
          }, 5000);
          await exited;
          clearTimeout(timer);
        },
      };
    },
  };
}
