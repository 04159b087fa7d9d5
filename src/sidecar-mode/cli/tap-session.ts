/**
 * What `tap` and `top` share: open the sidecar's tap with the filters, hand each message over, and
 * stop at --duration, at Ctrl-C, or when the command says so; the sidecar ending the stream (tap
 * turned off) is an error. Skipped events are reported on stderr.
 */
import type { TapFilter } from '../../admin/tap-filter.js';
import type { HostPort } from '../../config/listen-address.js';
import { openTap, type TapMessage } from './admin-client.js';
import type { CommandIo } from './command-io.js';

export interface TapSessionOptions {
  admin: HostPort;
  filter: TapFilter;
  durationMs?: number;
  maxRps?: number;
}

/** Runs until stopped; resolves with the exit code. `onEnd` runs before it, however the session ended. */
export async function runTapSession(
  options: TapSessionOptions,
  io: CommandIo,
  onMessage: (message: TapMessage, stop: () => void) => void,
  onEnd: () => void = () => {},
): Promise<number> {
  let stop = () => {};
  const stream = await openTap(options.admin, options.filter, options.maxRps, (message) => {
    if (message.type === 'skipped') {
      io.err(`# skipped ${message.rateLimited} requests over the rate limit and ${message.slowReader} while this end was slow\n`);
      return;
    }
    onMessage(message, () => stop());
  });
  stop = () => stream.close();
  const timer = options.durationMs === undefined ? undefined : setTimeout(stop, options.durationMs);
  io.interrupted.addEventListener('abort', stop, { once: true });
  const reason = await stream.ended;
  if (timer) clearTimeout(timer);
  io.interrupted.removeEventListener('abort', stop);
  onEnd();
  if (reason === undefined) return 0;
  io.err(`mesh-sidecar: the tap ended: ${reason}\n`);
  return 1;
}
