// The demo's load: GET requests at a fixed rate, open loop. The schedule does not wait for answers,
// as real users do not, so a slow service shows up as latency and in-flight requests rather than as
// a quietly lower request rate.
import { Agent, request as httpRequest } from 'node:http';

const MAX_IN_FLIGHT = 500;
const REQUEST_TIMEOUT_MS = 5_000;

/**
 * @typedef {{ address: string, host: string, path: string }} Target  address is host:port; host is
 *   the Host header, which names the service.
 */

/** One GET; resolves with undefined on a 200, or with what went wrong. Never rejects. */
function sendOne(agent, { address, host, path }) {
  const split = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const req = httpRequest({ host: address.slice(0, split), port: Number(address.slice(split + 1)), path, agent, headers: { host } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200 ? undefined : `${res.statusCode} ${Buffer.concat(chunks).toString('utf8').trim().slice(0, 80)}`));
      res.on('error', (err) => resolve(err.message));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (err) => resolve(err.message));
    req.end();
  });
}

/**
 * A few requests one at a time before the real load. Freshly started Node processes run cold code
 * and open their first connections, and full load on top of that can push a first request past its
 * timeouts; the table would open with failures that have nothing to do with the config.
 * @param {Target} target
 */
export async function warmUp(target, { requests = 30, withinMs = 2_000 } = {}) {
  const agent = new Agent({ keepAlive: true });
  const deadline = Date.now() + withinMs;
  for (let i = 0; i < requests && Date.now() < deadline; i++) await sendOne(agent, target);
  agent.destroy();
}

/** @param {Target & { rps: number }} target */
export function startTraffic({ rps, ...target }) {
  const agent = new Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
  const stats = { sent: 0, ok: 0, failed: 0, skipped: 0, inFlight: 0, lastFailure: '' };
  const startedAt = performance.now();
  let due = 0;

  const send = () => {
    stats.sent++;
    stats.inFlight++;
    void sendOne(agent, target).then((failure) => {
      stats.inFlight--;
      if (failure === undefined) stats.ok++;
      else {
        stats.failed++;
        stats.lastFailure = failure;
      }
    });
  };

  // Timers fire late under load; sending what is due since the start keeps the average rate exact.
  const timer = setInterval(() => {
    const shouldHaveSent = Math.floor(((performance.now() - startedAt) / 1000) * rps);
    for (; due < shouldHaveSent; due++) {
      if (stats.inFlight >= MAX_IN_FLIGHT) stats.skipped++;
      else send();
    }
  }, 5);

  return {
    stats,
    /** Stops sending and waits (a little) for the answers still on their way. */
    async stop(graceMs = 2_000) {
      clearInterval(timer);
      const deadline = Date.now() + graceMs;
      while (stats.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      agent.destroy();
    },
  };
}
