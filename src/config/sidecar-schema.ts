/**
 * The `spec.sidecar` section of a `kind: Mesh` document: where mesh-sidecar listens and how it
 * behaves. Command-line flags override it field by field. The defaults follow Linkerd 2's proxy
 * ports, and the admin server binds to loopback unless told otherwise, because /config and
 * /metrics describe the mesh to whoever can reach them.
 */
import { z } from 'zod';
import { isSpiffeIdPattern } from '../tls/spiffe-id.js';
import { durationSchema, requestMatchSchema } from './service-schema.js';
import { parseHostPort, type HostPort } from './listen-address.js';

const address = (defaultHost: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx): HostPort | null => {
    const parsed = parseHostPort(String(value), defaultHost);
    if (parsed !== null && 'problem' in parsed) {
      ctx.addIssue({ code: 'custom', message: parsed.problem });
      return z.NEVER;
    }
    return parsed;
  });

/** Who may call which routes of the app; once any rule exists, everything else is denied. */
const authorizationRule = z
  .object({
    name: z.string().min(1).optional(),
    from: z
      .array(
        z.string().refine(isSpiffeIdPattern, {
          message: 'expected a SPIFFE ID or a pattern ending in /* (spiffe://cluster.local/ns/shop/sa/*, spiffe://cluster.local/*)',
        }),
      )
      .min(1, 'expected at least one identity'),
    routes: z.array(requestMatchSchema).optional(),
  })
  .strict();
export type AuthorizationRule = z.output<typeof authorizationRule>;

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A timeout that `false` turns off. */
const timeoutOrOff = z.union([z.literal(false), durationSchema]).transform((value) => (value === false ? 0 : value));
const atLeastOne = z.number().int().min(1, 'expected a whole number of at least 1');

export const sidecarSchema = z
  .object({
    outbound: address('127.0.0.1').optional(),
    inbound: address('0.0.0.0').optional(),
    admin: address('127.0.0.1').optional(),
    app: address('127.0.0.1').optional(),
    drainGrace: durationSchema.optional(),
    logLevel: z.enum(LOG_LEVELS).optional(),
    accessLog: z.boolean().optional(),
    maxHeaderBytes: z.number().int().min(1024, 'expected at least 1024 bytes').optional(),
    headersTimeout: durationSchema.optional(),
    requestTimeout: timeoutOrOff.optional(),
    idleTimeout: durationSchema.optional(),
    streamIdleTimeout: timeoutOrOff.optional(),
    maxConnections: atLeastOne.optional(),
    maxRequestsInFlight: atLeastOne.optional(),
    maxHops: atLeastOne.optional(),
    // off: plaintext only; permissive: mTLS and plaintext; strict: mTLS only. Default: strict when the
    // mesh has an identity, off otherwise.
    inboundTls: z.enum(['off', 'permissive', 'strict']).optional(),
    authorization: z.array(authorizationRule).optional(),
  })
  .strict();

export type SidecarConfig = z.input<typeof sidecarSchema>;
export type SidecarSection = z.output<typeof sidecarSchema>;

export interface SidecarSettings {
  outbound: HostPort | null;
  inbound: HostPort | null;
  admin: HostPort | null;
  /** Where inbound traffic goes (the local app); inbound is off without it. */
  app: HostPort | null;
  drainGraceMs: number;
  logLevel: LogLevel;
  accessLog: boolean;
  maxHeaderBytes: number;
  /** What each listener (outbound, inbound) tolerates from a caller; see ListenerLimits. */
  limits: ListenerLimits;
  /** A request that has already passed this many sidecars is refused (508): a loop between sidecars. */
  maxHops: number;
  /** undefined: decided by whether the mesh has an identity. */
  inboundTls: 'off' | 'permissive' | 'strict' | undefined;
  authorization: AuthorizationRule[];
}

/**
 * What a listener tolerates from one caller before it closes the connection (timeouts, 0 = none)
 * or refuses more (limits): a slow or hostile client costs a connection slot for a bounded time and
 * never stops the sidecar serving the others.
 */
export interface ListenerLimits {
  /** A request's headers (and a new connection's first bytes) must arrive within this. */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (0: no limit). */
  requestTimeoutMs: number;
  /** A keep-alive connection with no request in progress is closed after this. */
  idleTimeoutMs: number;
  /** A connection on which no byte moves either way for this long is closed, request or not (0: never). */
  streamIdleTimeoutMs: number;
  /** Open connections per listener; more are closed as they arrive. */
  maxConnections: number;
  /** Requests in progress per listener; more are answered 503 at once. */
  maxRequestsInFlight: number;
}

export const SIDECAR_DEFAULTS: SidecarSettings = {
  outbound: { host: '127.0.0.1', port: 4140 },
  inbound: { host: '0.0.0.0', port: 4143 },
  admin: { host: '127.0.0.1', port: 4191 },
  app: null,
  drainGraceMs: 10_000,
  logLevel: 'info',
  accessLog: false,
  // Node's own default; larger header blocks get 431 rather than reaching the app.
  maxHeaderBytes: 16 * 1024,
  limits: {
    // Node's own headers timeout; it also bounds a new connection that has not yet said which protocol it speaks.
    headersTimeoutMs: 30_000,
    // Node's own default: a slow upload cannot hold a connection for longer than this.
    requestTimeoutMs: 300_000,
    // Longer than the 60 s idle timeout of common load balancers in front, so they close first.
    idleTimeoutMs: 65_000,
    // Envoy's stream idle timeout: a caller that stopped reading, a stream on which nothing moves.
    streamIdleTimeoutMs: 300_000,
    maxConnections: 10_000,
    maxRequestsInFlight: 10_000,
  },
  maxHops: 16,
  inboundTls: undefined,
  authorization: [],
};

/** Layers sections over the defaults: later ones (the command line) win, field by field. */
export function sidecarSettings(...sections: (SidecarSection | undefined)[]): SidecarSettings {
  const settings = { ...SIDECAR_DEFAULTS };
  for (const section of sections) {
    if (!section) continue;
    if (section.outbound !== undefined) settings.outbound = section.outbound;
    if (section.inbound !== undefined) settings.inbound = section.inbound;
    if (section.admin !== undefined) settings.admin = section.admin;
    if (section.app !== undefined) settings.app = section.app;
    if (section.drainGrace !== undefined) settings.drainGraceMs = section.drainGrace;
    if (section.logLevel !== undefined) settings.logLevel = section.logLevel;
    if (section.accessLog !== undefined) settings.accessLog = section.accessLog;
    if (section.maxHeaderBytes !== undefined) settings.maxHeaderBytes = section.maxHeaderBytes;
    settings.limits = {
      headersTimeoutMs: section.headersTimeout ?? settings.limits.headersTimeoutMs,
      requestTimeoutMs: section.requestTimeout ?? settings.limits.requestTimeoutMs,
      idleTimeoutMs: section.idleTimeout ?? settings.limits.idleTimeoutMs,
      streamIdleTimeoutMs: section.streamIdleTimeout ?? settings.limits.streamIdleTimeoutMs,
      maxConnections: section.maxConnections ?? settings.limits.maxConnections,
      maxRequestsInFlight: section.maxRequestsInFlight ?? settings.limits.maxRequestsInFlight,
    };
    if (section.maxHops !== undefined) settings.maxHops = section.maxHops;
    if (section.inboundTls !== undefined) settings.inboundTls = section.inboundTls;
    if (section.authorization !== undefined) settings.authorization = section.authorization;
  }
  return settings;
}
