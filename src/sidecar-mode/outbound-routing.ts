/**
 * The outbound side: where the app's request is going (a proxy request's absolute URI, else Host or
 * :authority), and to whom it goes: the mesh service the authority names, through its whole stack;
 * with an egress policy, an allowed external host through its own client and any other refused;
 * without one, a host the mesh does not know goes through a plain agent (or is refused, with
 * `unknownHosts: refuse`), never back to this sidecar itself.
 */
import type { IncomingMessage } from 'node:http';
import { networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Mesh } from '../client/create-mesh.js';
import { Http1Exchange } from '../client/http1-exchange.js';
import type { Logger } from '../core/logger.js';
import { newCallContext } from '../core/service.js';
import { formatHostPort, isLoopbackHost, parseHostPort, type HostPort } from '../config/listen-address.js';
import type { SidecarSettings } from '../config/sidecar-schema.js';
import type { MeshRequest, MeshResponse } from '../http/http-types.js';
import { forward, isHttp2, respondWithFailure, type ForwardTarget, type ProxyRequest, type ProxyResponse } from './forward.js';
import { proxyFailure, type ProxyFailure } from './proxy-errors.js';
import { rawHeader } from './proxy-headers.js';
import { endWithStatus } from './raw-response.js';
import { forwardUpgrade } from './upgrade-tunnel.js';
interface OutboundTarget {
  authority: string;
  path: string;
}

/**
 * Where a request is going: an absolute-form target's authority (a proxy request; Host is then
 * ignored, RFC 9112 §3.2.2), else Host / :authority. `scheme` is the one absolute targets may have.
 */
export function requestTarget(req: ProxyRequest, scheme: 'http' | 'https' = 'http'): OutboundTarget | { problem: string } {
  const url = req.url ?? '';
  if (!isHttp2(req) && /^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { problem: `the request target ${JSON.stringify(url)} is not a valid URL` };
    }
    if (parsed.protocol !== `${scheme}:`) return { problem: `only ${scheme}:// targets are taken here, got ${parsed.protocol}//` };
    return { authority: parsed.host, path: `${parsed.pathname}${parsed.search}` };
  }
  const authority = authorityOf(req);
  if (!authority) return { problem: 'the request has no Host header (or :authority) naming the service to call' };
  if (!url.startsWith('/')) return { problem: `the request target ${JSON.stringify(url)} is not a path` };
  return { authority, path: url };
}

export function authorityOf(req: ProxyRequest | IncomingMessage): string | undefined {
  // HTTP/1.1 from the raw list: Node builds its header object only if something asks for it.
  const value = req.httpVersionMajor === 2 ? (req.headers[':authority'] as string | undefined) ?? req.headers.host : rawHeader(req.rawHeaders, 'host');
  if (!value) return undefined;
  // Host names are almost always sent in lower case already; lower-casing copies the string.
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 65 && c <= 90) return value.toLowerCase();
  }
  return value;
}

export function hostOnly(authority: string): string {
  return authority.startsWith('[') ? authority.slice(0, authority.indexOf(']') + 1) : authority.replace(/:\d+$/, '');
}

/** Whether `target` reaches one of this sidecar's own listeners: by loopback, by the bound address, or by any local address when bound to all. */
export function namesOwnListener(target: HostPort, listeners: readonly HostPort[]): HostPort | undefined {
  return listeners.find((own) => {
    if (target.port !== own.port) return false;
    if (isLoopbackHost(target.host) || target.host === own.host) return true;
    return (own.host === '0.0.0.0' || own.host === '::') && localAddresses().has(target.host);
  });
}

function localAddresses(): Set<string> {
  return new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)));
}

export function routeOutbound(req: ProxyRequest, res: ProxyResponse, mesh: Mesh, passthrough: Dispatcher, ownListeners: () => readonly HostPort[], settings: SidecarSettings, logger: Logger): void {
  const target = requestTarget(req);
  if ('problem' in target) {
    respondWithFailure(res, 400, 'INVALID_REQUEST', target.problem);
    return;
  }
  const forwardOptions = { direction: 'outbound' as const, authority: target.authority, path: target.path, logger, accessLog: settings.accessLog, maxHops: settings.maxHops };
  const meshed = outboundClient(mesh, target.authority);
  if (meshed !== undefined) {
    if ('client' in meshed) forward(req, res, meshed.client, { ...forwardOptions, label: meshed.label });
    else respondWithFailure(res, meshed.status, meshed.code, meshed.message);
    return;
  }
  if (mesh.unknownHosts === 'refuse') {
    respondWithFailure(res, 502, 'UNKNOWN_SERVICE', `no mesh service is named "${target.authority}" and unknownHosts is refuse`);
    return;
  }
  const parsed = parseHostPort(target.authority.includes(':') ? target.authority : `${target.authority}:80`);
  if (parsed === null || 'problem' in parsed) {
    respondWithFailure(res, 400, 'INVALID_REQUEST', `"${target.authority}" is not a host to pass through to`);
    return;
  }
  // Sending a request for ourselves to ourselves would loop until sockets run out (outbound), or
  // reach the app or the admin port by a path no policy was written for.
  const self = namesOwnListener(parsed, ownListeners());
  if (self !== undefined) {
    respondWithFailure(res, 508, 'LOOP_DETECTED', `${target.authority} is this sidecar's own listener (${formatHostPort(self)}); name a service instead`);
    return;
  }
  forward(req, res, passthroughTarget(passthrough, `http://${formatHostPort(parsed)}`), forwardOptions);
}

/** A host the mesh does not know, reached through a plain keep-alive agent (no stack, no retries). */
function passthroughTarget(agent: Dispatcher, origin: string): ForwardTarget {
  return {
    request: (req: MeshRequest) =>
      new Promise<MeshResponse>((resolve, reject) => {
        agent.dispatch(
          { origin, method: req.method, path: req.path, headers: req.headers ?? null, body: req.body ?? null },
          new Http1Exchange(resolve, reject, newCallContext(origin, req.signal), origin),
        );
      }),
  };
}

/** An upgrade (WebSocket) goes through the service's client like any request; see upgrade-tunnel.ts. */
export function upgradeOutbound(req: IncomingMessage, socket: Duplex, head: Buffer, mesh: Mesh, settings: SidecarSettings, logger: Logger): void {
  const target = requestTarget(req);
  const refuse = (status: number, code: string, message: string) => endWithStatus(socket, status, message, code);
  if ('problem' in target) return refuse(400, 'INVALID_REQUEST', target.problem);
  const options = { direction: 'outbound' as const, authority: target.authority, path: target.path, logger, accessLog: settings.accessLog, maxHops: settings.maxHops };
  const meshed = outboundClient(mesh, target.authority);
  if (meshed === undefined) return refuse(502, 'UNKNOWN_SERVICE', `no mesh service is named "${target.authority}"`);
  if ('client' in meshed) return forwardUpgrade(req, socket, head, meshed.client, { ...options, label: meshed.label });
  return refuse(meshed.status, meshed.code, meshed.message);
}

/**
 * The client an outbound request goes through: its mesh service's, else an allowed external host's
 * (egress); the refusal when the egress policy denies the host; undefined when neither applies.
 */
function outboundClient(mesh: Mesh, authority: string): { client: ForwardTarget; label: string } | ProxyFailure | undefined {
  const service = mesh.serviceFor(authority);
  if (service !== undefined) return { client: mesh.client(service), label: service };
  const egress = mesh.egressFor(authority);
  if (egress === undefined) return undefined;
  if ('client' in egress) return { client: egress.client, label: egress.client.name };
  return 'denied' in egress ? proxyFailure(egress.denied) : { status: 403, code: 'EGRESS_DENIED', message: 'refused' };
}

