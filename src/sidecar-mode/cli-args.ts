/**
 * mesh-sidecar's command line. Flags override the config file's spec.sidecar section field by
 * field; a bad flag is refused with one line that names it, before anything starts.
 */
import { parseArgs } from 'node:util';
import { parseDuration } from '../config/duration.js';
import { parseHostPort } from '../config/listen-address.js';
import { LOG_LEVELS, type LogLevel, type SidecarSection } from '../config/sidecar-schema.js';
import { isConfigMapRef, parseConfigMapRef } from '../discovery/kubernetes/config-map-source.js';

export const HELP = `mesh-sidecar — the meshwork stack as a proxy beside an app in any language.

Usage:
  mesh-sidecar --config mesh.yaml [options]
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
  --admin <host:port>      /metrics /ready /live /config               default 127.0.0.1:4191
                           (give "none" to turn any of the three off; port 0 picks a free port)
  --app <host:port|port>   the local app that inbound traffic goes to  (inbound is off without it)
  --log-level <level>      debug | info | warn | error                 default info
  --access-log             log every request as a JSON line
  --drain-grace <time>     on SIGTERM, how long requests in flight may take to finish  default 10s
  --max-header-bytes <n>   larger request headers get 431              default 16384
  -h, --help               show this text
  --version                print the version

mTLS: with spec.identity (certFile, keyFile, trustAnchorsFile) in the config, services marked
tls: { identity: <spiffe id> } are called over mutual TLS 1.3, and the inbound port requires it
(spec.sidecar.inboundTls: strict, the default then; or permissive, or off). The app receives the
caller's verified SPIFFE ID in x-meshwork-client-id; spec.sidecar.authorization limits who may call.

Kubernetes: discovery: k8s:<service>.<namespace>:<port name or number> follows the Service's
EndpointSlices (ready pods; terminating ones only when none is ready), spec.kubernetes.serviceProfiles
reads Linkerd ServiceProfiles from the API server, and --config can name a ConfigMap. Credentials: the
pod's service account, else the current context of KUBECONFIG or ~/.kube/config. While the API server
is unreachable the last state keeps serving. Manifests and an image recipe: deploy/kubernetes/.

Retries follow Linkerd: failures are retried only on routes marked isRetryable: true; requests that
match no route follow retries.retryNonRouted (default: idempotent methods). Defaults: up to 4 attempts,
a budget of 20% of requests + 10/s over 10s, backoff 25ms-1s with jitter; connection failures (nothing
sent) are retried on any route.

Logs are JSON lines on stderr. When every listener is up, one line with "msg":"mesh-sidecar ready"
gives the addresses actually bound. SIGTERM or SIGINT drains and exits 0. A config change is applied
while running (if valid; otherwise the last good config keeps running and /config shows the error):
services at once; spec.sidecar.authorization from the next request, on open connections too;
inboundTls for new connections; logLevel, accessLog and drainGrace at once. Listener addresses, app
and maxHeaderBytes need a restart (logged, and listed in /config under pendingRestart).

Exit codes: 0 after a drain (requests still running at the end of the grace period are cut and
logged), 1 if the drain itself failed, 2 for a bad flag or config.
`;

export type CliCommand = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: string; overrides: SidecarSection };

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
  return { kind: 'run', config: v.config, overrides };
}
