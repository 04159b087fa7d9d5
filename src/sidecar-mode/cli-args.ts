/**
 * mesh-sidecar's command line. Flags override the config file's spec.sidecar section field by
 * field; a bad flag is refused with one line that names it, before anything starts.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDuration } from '../core/duration.js';
import { parseHostPort } from '../config/listen-address.js';
import { LOG_LEVELS, type LogLevel, type SidecarSection } from '../config/sidecar-schema.js';
import { isConfigMapRef, parseConfigMapRef } from '../config/config-map-source.js';
import { parseTapFilter, TapFilterError, type TapFilter } from '../admin/tap-filter.js';
import type { HostPort } from '../config/listen-address.js';
import type { Direction } from '../telemetry/mesh-metrics.js';
import { DIRECTIONS } from '../core/core-params.js';
import type { GatewayOverrides } from './gateway-settings.js';

export const HELP = `mesh-sidecar — the meshwork stack as a proxy beside an app in any language.

Usage:
  mesh-sidecar --config mesh.yaml [options]
  mesh-sidecar stat|routes|top|tap [options]   what a running sidecar sees (its admin port)
  mesh-sidecar check [--config mesh.yaml]      is the config sound, is the sidecar running well
  mesh-sidecar identity init --dir <ca dir> --trust-domain <domain>     create a trust anchor and issuer
  mesh-sidecar identity issue --ca <ca dir> --name <spiffe id> --out <dir> [--ttl 24h]
                                                                       issue a leaf certificate

The app sends plain HTTP to the outbound port, naming the service in the Host header
(curl -H 'Host: reviews' http://127.0.0.1:4140/...) or through HTTP_PROXY=http://127.0.0.1:4140.
The sidecar balances, retries, times out, breaks circuits and injects faults as mesh.yaml says,
exactly as meshClient does inside a Node process. Traffic for the local app arrives on the
inbound port and is handed to --app. HTTP/1.1, HTTP/2 (h2c prior knowledge, gRPC) and WebSocket.

Options (each overrides the same field of spec.sidecar in the config file):
  --config <source>        the mesh config [required]: a file of kind: Mesh (+ Linkerd ServiceProfile)
                           YAML, or k8s:configmap/<namespace>/<name>[#<key>] to read that YAML from a
                           ConfigMap through the API server and watch it (key default mesh.yaml)
  --outbound <host:port>   where the app's outgoing calls arrive       default 127.0.0.1:4140
  --inbound <host:port>    where mesh traffic for the app arrives      default 0.0.0.0:4143
  --admin <host:port>      /metrics /ready /live /config, the dashboard default 127.0.0.1:4191
                           (give "none" to turn any of the three off; port 0 picks a free port)
  --app <host:port|port>   the local app that inbound traffic goes to  (inbound is off without it)
  --log-level <level>      debug | info | warn | error                 default info
  --access-log             log every request as a JSON line
  --drain-grace <time>     on SIGTERM, how long requests in flight may take to finish  default 10s
  --max-header-bytes <n>   larger request headers get 431              default 16384
  --gateway <host:port>    the gateway's HTTPS listener (spec.gateway.https; "none" turns it off)
  --gateway-http <host:port>  the gateway's plain HTTP listener: 308 to HTTPS (spec.gateway.http)

Limits per listener (outbound, inbound) against slow, stuck and hostile callers; each one closes the
connection (or refuses the request) and is logged once per kind, then counted in
meshwork_listener_refused_total{listener,reason}:
  --headers-timeout <time>      a request's headers (a new connection's first bytes) must arrive
                                within this (slow loris); 408                     default 30s
  --request-timeout <time|off>  the whole request, body included (slow uploads); 408  default 5m
  --idle-timeout <time>         a keep-alive connection with no request in progress  default 65s
  --stream-idle-timeout <time|off>  no byte moved either way on a connection (a caller that
                                stopped reading, a silent HTTP/2 session)          default 5m
  --max-connections <n>         open connections; more are closed as they arrive    default 10000
  --max-requests-in-flight <n>  requests in progress; more get 503 OVERLOADED       default 10000
  --max-hops <n>                sidecars a request may pass (x-meshwork-hops); more get
                                508 LOOP_DETECTED, which cuts a loop between sidecars  default 16
  -h, --help               show this text
  --version                print the version

mTLS: with spec.identity (certFile, keyFile, trustAnchorsFile) in the config, services marked
tls: { identity: <spiffe id> } are called over mutual TLS 1.3, and the inbound port requires it
(spec.sidecar.inboundTls: strict, the default then; or permissive, or off). The app receives the
caller's verified SPIFFE ID in x-meshwork-client-id; spec.sidecar.authorization limits who may call.

Gateway: spec.gateway makes the sidecar the edge of the mesh: HTTPS with a certificate per host
(chosen by SNI, files watched), plain HTTP redirected to HTTPS, routes by host and path to mesh
services through the whole stack (metrics with direction="gateway"). spec.egress lists the external
hosts the app may call (each with its own timeout and retries); any other is refused, EGRESS_DENIED.

Kubernetes: discovery: k8s:<service>.<namespace>:<port name or number> follows the Service's
EndpointSlices (ready pods; terminating ones only when none is ready), spec.kubernetes.serviceProfiles
reads Linkerd ServiceProfiles from the API server, and --config can name a ConfigMap. Credentials: the
pod's service account, else the current context of KUBECONFIG or ~/.kube/config. While the API server
is unreachable the last state keeps serving. Manifests and an image recipe: deploy/kubernetes/.

Retries follow Linkerd: failures are retried only on routes marked isRetryable: true; requests that
match no route follow retries.retryNonRouted (default: idempotent methods). Defaults: up to 4 attempts,
a budget of 20% of requests + 10/s over 10s, backoff 25ms-1s with jitter; connection failures (nothing
sent) are retried on any route.

The admin port also serves a dashboard at / (success rates, latency, endpoints, a topology and a
live tap), the JSON summary at /api/summary and tap at /api/tap (spec.admin.tap: true enables it);
"mesh-sidecar stat --help" and the others describe the command-line views of the same.

Logs are JSON lines on stderr. When every listener is up, one line with "msg":"mesh-sidecar ready"
gives the addresses actually bound. SIGTERM or SIGINT drains and exits 0. A config change is applied
while running (if valid; otherwise the last good config keeps running and /config shows the error):
services at once; spec.sidecar.authorization from the next request, on open connections too;
inboundTls for new connections; logLevel, accessLog and drainGrace at once. Listener addresses, app
and maxHeaderBytes need a restart (logged, and listed in /config under pendingRestart).

Exit codes: 0 after a drain (requests still running at the end of the grace period are cut and
logged), 1 if the drain itself failed, 2 for a bad flag or config.
`;

export type CliCommand = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: string; overrides: SidecarSection; gateway: GatewayOverrides };

export class CliError extends Error {}

export function parseCli(argv: string[]): CliCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        outbound: { type: 'string' },
        inbound: { type: 'string' },
        admin: { type: 'string' },
        app: { type: 'string' },
        'log-level': { type: 'string' },
        'access-log': { type: 'boolean' },
        'drain-grace': { type: 'string' },
        'max-header-bytes': { type: 'string' },
        'headers-timeout': { type: 'string' },
        'request-timeout': { type: 'string' },
        'idle-timeout': { type: 'string' },
        'stream-idle-timeout': { type: 'string' },
        'max-connections': { type: 'string' },
        'max-requests-in-flight': { type: 'string' },
        'max-hops': { type: 'string' },
        gateway: { type: 'string' },
        'gateway-http': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (err) {
    throw new CliError(`${(err as Error).message.replace(/\. To specify.*$/s, '')}; see mesh-sidecar --help`);
  }
  const v = parsed.values;
  if (v.help) return { kind: 'help' };
  if (v.version) return { kind: 'version' };
  if (!v.config) throw new CliError('--config <file> is required; see mesh-sidecar --help');
  if (isConfigMapRef(v.config)) {
    try {
      parseConfigMapRef(v.config);
    } catch (err) {
      throw new CliError(`--config: ${(err as Error).message}`);
    }
  }

  const overrides: SidecarSection = {};
  const address = (flag: string, text: string | undefined, defaultHost: string) => {
    if (text === undefined) return undefined;
    const result = parseHostPort(text, defaultHost);
    if (result !== null && 'problem' in result) throw new CliError(`--${flag}: ${result.problem}`);
    return result;
  };
  const outbound = address('outbound', v.outbound, '127.0.0.1');
  const inbound = address('inbound', v.inbound, '0.0.0.0');
  const admin = address('admin', v.admin, '127.0.0.1');
  const app = address('app', v.app, '127.0.0.1');
  if (outbound !== undefined) overrides.outbound = outbound;
  if (inbound !== undefined) overrides.inbound = inbound;
  if (admin !== undefined) overrides.admin = admin;
  if (app !== undefined) {
    if (app === null) throw new CliError('--app: expected host:port or a port, not none');
    overrides.app = app;
  }
  if (v['log-level'] !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(v['log-level'])) throw new CliError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(v['log-level'])}`);
    overrides.logLevel = v['log-level'] as LogLevel;
  }
  if (v['access-log']) overrides.accessLog = true;
  if (v['drain-grace'] !== undefined) {
    const ms = parseDuration(v['drain-grace']);
    if (ms === undefined || ms < 0) throw new CliError(`--drain-grace: expected a duration such as 500ms, 10s or 1m, got ${JSON.stringify(v['drain-grace'])}`);
    overrides.drainGrace = ms;
  }
  if (v['max-header-bytes'] !== undefined) {
    const bytes = Number(v['max-header-bytes']);
    if (!Number.isInteger(bytes) || bytes < 1024) throw new CliError(`--max-header-bytes: expected a whole number of bytes >= 1024, got ${JSON.stringify(v['max-header-bytes'])}`);
    overrides.maxHeaderBytes = bytes;
  }
  const duration = (flag: 'headers-timeout' | 'request-timeout' | 'idle-timeout' | 'stream-idle-timeout', offAllowed: boolean): number | undefined => {
    const text = v[flag];
    if (text === undefined) return undefined;
    if (offAllowed && text === 'off') return 0;
    const ms = parseDuration(text);
    if (ms === undefined || !(ms > 0)) throw new CliError(`--${flag}: expected a duration such as 500ms, 30s or 5m${offAllowed ? ', or off' : ''}, got ${JSON.stringify(text)}`);
    return ms;
  };
  const count = (flag: 'max-connections' | 'max-requests-in-flight' | 'max-hops'): number | undefined => {
    const text = v[flag];
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < 1) throw new CliError(`--${flag}: expected a whole number of at least 1, got ${JSON.stringify(text)}`);
    return n;
  };
  const limits: SidecarSection = {
    headersTimeout: duration('headers-timeout', false),
    requestTimeout: duration('request-timeout', true),
    idleTimeout: duration('idle-timeout', false),
    streamIdleTimeout: duration('stream-idle-timeout', true),
    maxConnections: count('max-connections'),
    maxRequestsInFlight: count('max-requests-in-flight'),
    maxHops: count('max-hops'),
  };
  for (const [field, value] of Object.entries(limits)) if (value !== undefined) (overrides as Record<string, unknown>)[field] = value;
  const gateway: GatewayOverrides = {};
  const gatewayHttps = address('gateway', v.gateway, '0.0.0.0');
  const gatewayHttp = address('gateway-http', v['gateway-http'], '0.0.0.0');
  if (gatewayHttps !== undefined) gateway.https = gatewayHttps;
  if (gatewayHttp !== undefined) gateway.http = gatewayHttp;
  return { kind: 'run', config: v.config, overrides, gateway };
}

// ---------------------------------------------------------------------------------------------
// The views of a running sidecar (stat, routes, top, tap) and check.

export const VIEW_COMMANDS = ['stat', 'routes', 'top', 'tap', 'check'] as const;
export const DEFAULT_ADMIN = '127.0.0.1:4191';
export type ViewCommandName = (typeof VIEW_COMMANDS)[number];
export type Output = 'table' | 'wide' | 'json';

interface ViewTarget {
  admin: HostPort;
  output: Output;
}
export type ViewCommand =
  | { kind: 'help'; text: string }
  | (ViewTarget & { kind: 'stat' | 'routes'; name?: string; direction?: Direction })
  | (ViewTarget & { kind: 'top'; filter: TapFilter; durationMs?: number; rows: number; maxRps?: number })
  | (ViewTarget & { kind: 'tap'; filter: TapFilter; count?: number; durationMs?: number; maxRps?: number })
  | { kind: 'check'; output: Output; admin?: HostPort; config?: string; pre: boolean; timeoutMs: number };

const ADMIN_HELP = `  --admin <host:port>    the sidecar's admin address                    default ${DEFAULT_ADMIN}`;
const FILTER_HELP = `  --direction <d>        inbound, outbound, gateway or egress
  --authority <name>     the service (outbound) or the authority callers addressed (inbound)
  --path <prefix>        request paths starting with this
  --method <method>      GET, POST, ...
  --route <name>         a route's name; [DEFAULT] for requests that matched none
  --status <s>           a status (503), a class (5xx), error (no response) or failure
  --max-rps <n>          ask the sidecar for at most n requests a second (it may send fewer)`;

export const VIEW_HELP: Record<ViewCommandName, string> = {
  stat: `mesh-sidecar stat — success rate, request rate and latency per service, as linkerd viz stat.

Usage:
  mesh-sidecar stat [<name>] [--direction inbound|outbound|gateway|egress] [-o wide|json] [--admin <host:port>]

Every figure covers the sidecar's stats window (spec.admin.statsWindow, 10 s by default). NAME is
direction/service: outbound/words for calls the app makes, inbound/words for calls it receives,
gateway/words for calls the gateway makes into the mesh, egress/<host:port> for allowed external hosts.
Columns: SUCCESS (non-failures out of all), RPS, LATENCY_P50/P95/P99 (to response headers),
RETRIES (retries sent per second) and BREAKER (the circuit breaker's state). -o wide adds the
retry budget, faults, limit refusals and the endpoints; -o json prints the admin's summary.

${ADMIN_HELP}
  -o, --output <format>  wide or json
  -h, --help             show this text

Exit codes: 0 shown, 1 the admin port could not be read (or <name> has no traffic), 2 a bad flag.
`,
  routes: `mesh-sidecar routes — the same figures per route, as linkerd viz routes.

Usage:
  mesh-sidecar routes [<service>] [--direction inbound|outbound|gateway|egress] [-o wide|json] [--admin <host:port>]

Routes come from the config's routes and ServiceProfiles; requests that matched none are the
[DEFAULT] row. -o wide adds the direction and the number of requests in the window.

${ADMIN_HELP}
  -o, --output <format>  wide or json
  -h, --help             show this text

Exit codes: 0 shown, 1 the admin port could not be read (or <service> has no routes), 2 a bad flag.
`,
  top: `mesh-sidecar top — the busiest paths right now, refreshed in place, as linkerd viz top.

Usage:
  mesh-sidecar top [filters] [--rows <n>] [--duration <time>] [-o wide|json] [--admin <host:port>]

Built from the sidecar's tap (spec.admin.tap must be on). Count, the best, worst and last latency
and the success rate per source, destination, method and path since top started. On a terminal the
table is redrawn every second until Ctrl-C; otherwise it is printed once when --duration is over
or the sidecar ends the stream.

${FILTER_HELP}
  --rows <n>             show the n busiest paths                          default 20
  --duration <time>      stop after this long (500ms, 10s, 1m)
${ADMIN_HELP}
  -o, --output <format>  wide (adds the authority and route) or json
  -h, --help             show this text

Exit codes: 0 shown, 1 the tap could not be read (off, or the admin port unreachable), 2 a bad flag.
`,
  tap: `mesh-sidecar tap — requests as they complete, as linkerd viz tap.

Usage:
  mesh-sidecar tap [filters] [--count <n>] [--duration <time>] [-o wide|json] [--admin <host:port>]

spec.admin.tap must be on. Each request is three lines: req (method, authority, path), rsp (status
and latency to the response headers) and end (gRPC status, attempts, or the error that ended it).
src is the caller's verified identity (inbound), dst the endpoint the sidecar chose; credentials
(authorization, cookie, set-cookie and the headers the config lists) are never shown.

${FILTER_HELP}
  --count <n>            stop after n requests
  --duration <time>      stop after this long
${ADMIN_HELP}
  -o, --output <format>  wide (adds the route and service) or json (one event a line, headers too)
  -h, --help             show this text

Exit codes: 0 done (--count, --duration, or Ctrl-C), 1 the tap could not be read or was turned off,
2 a bad flag.
`,
  check: `mesh-sidecar check — is the config sound, and is the sidecar running well?

Usage:
  mesh-sidecar check [--config mesh.yaml] [--admin <host:port>] [--pre] [-o json]

With --config: the file loads, discovery answers for every service, and the identity certificate
(spec.identity) is valid and not expiring soon. Then, unless --pre: the admin port is reachable at
--admin (default: the config's spec.sidecar.admin, else ${DEFAULT_ADMIN}), the sidecar is ready,
its listeners are bound and its running config has no error. Each check is one line: √ passed,
‼ a warning, × failed, with the reason and a hint below.

  --config <file>        the mesh config to check
${ADMIN_HELP}
  --pre                  only the config: no running sidecar yet
  --timeout <time>       how long each check may take                   default 5s
  -o, --output <format>  json
  -h, --help             show this text

Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 a bad flag.
`,
};


export function parseViewCli(command: ViewCommandName, argv: string[]): ViewCommand {
  const filterFlags = { direction: { type: 'string' }, authority: { type: 'string' }, path: { type: 'string' }, method: { type: 'string' }, route: { type: 'string' }, status: { type: 'string' }, 'max-rps': { type: 'string' } } as const;
  const common = { admin: { type: 'string' }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } } as const;
  const options = {
    stat: { ...common, direction: { type: 'string' } as const },
    routes: { ...common, direction: { type: 'string' } as const },
    top: { ...common, ...filterFlags, rows: { type: 'string' } as const, duration: { type: 'string' } as const },
    tap: { ...common, ...filterFlags, count: { type: 'string' } as const, duration: { type: 'string' } as const },
    check: { ...common, config: { type: 'string' } as const, pre: { type: 'boolean' } as const, timeout: { type: 'string' } as const },
  }[command] as ParseArgsConfig['options'];
  let parsed;
  try {
    parsed = parseArgs({ args: argv, strict: true, allowPositionals: command === 'stat' || command === 'routes', options });
  } catch (err) {
    throw new CliError(`${command}: ${(err as Error).message.replace(/\. To specify.*$/s, '')}; see mesh-sidecar ${command} --help`);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help) return { kind: 'help', text: VIEW_HELP[command] };
  const fail = (message: string): never => {
    throw new CliError(`${command}: ${message}; see mesh-sidecar ${command} --help`);
  };
  if (parsed.positionals.length > 1) fail(`expected at most one name, got ${parsed.positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  const outputs: Output[] = command === 'check' ? ['table', 'json'] : ['table', 'wide', 'json'];
  const output = (v.output ?? 'table') as Output;
  if (!outputs.includes(output)) fail(`-o: expected ${outputs.filter((o) => o !== 'table').join(' or ')}, got ${JSON.stringify(v.output)}`);
  const adminAddress = (text: string | undefined): HostPort | undefined => {
    if (text === undefined) return undefined;
    const result = parseHostPort(text, '127.0.0.1');
    if (result === null || 'problem' in result) return fail(`--admin: ${result === null ? 'expected the admin address, not none' : result.problem}`);
    return result;
  };
  const duration = (flag: string): number | undefined => {
    const text = v[flag] as string | undefined;
    if (text === undefined) return undefined;
    const ms = parseDuration(text);
    return ms === undefined || !(ms > 0) ? fail(`--${flag}: expected a duration such as 500ms, 10s or 1m, got ${JSON.stringify(text)}`) : ms;
  };
  const whole = (flag: string): number | undefined => {
    const text = v[flag] as string | undefined;
    if (text === undefined) return undefined;
    const n = Number(text);
    return Number.isInteger(n) && n >= 1 ? n : fail(`--${flag}: expected a whole number >= 1, got ${JSON.stringify(text)}`);
  };
  const direction = v.direction as string | undefined;
  if (direction !== undefined && !(DIRECTIONS as readonly string[]).includes(direction)) fail(`--direction: expected ${DIRECTIONS.join(', ')}, got ${JSON.stringify(direction)}`);

  if (command === 'check') {
    const admin = adminAddress(v.admin as string | undefined);
    return { kind: 'check', output, pre: v.pre === true, timeoutMs: duration('timeout') ?? 5_000, ...(admin ? { admin } : {}), ...(v.config !== undefined ? { config: v.config as string } : {}) };
  }
  const target: ViewTarget = { admin: adminAddress(v.admin as string | undefined) ?? adminAddress(DEFAULT_ADMIN)!, output };
  if (command === 'stat' || command === 'routes') {
    const name = parsed.positionals[0];
    return { kind: command, ...target, ...(name === undefined ? {} : { name }), ...(direction === undefined ? {} : { direction: direction as Direction }) };
  }
  let filter: TapFilter;
  try {
    filter = parseTapFilter((field) => v[field] as string | undefined);
  } catch (err) {
    if (err instanceof TapFilterError) return fail(`--${err.message}`);
    throw err;
  }
  const maxRps = whole('max-rps');
  const durationMs = duration('duration');
  const limits = { ...(maxRps === undefined ? {} : { maxRps }), ...(durationMs === undefined ? {} : { durationMs }) };
  if (command === 'top') return { kind: 'top', ...target, filter, rows: whole('rows') ?? 20, ...limits };
  const count = whole('count');
  return { kind: 'tap', ...target, filter, ...limits, ...(count === undefined ? {} : { count }) };
}
