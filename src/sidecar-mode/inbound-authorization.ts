/**
 * The inbound authorization policy: which callers (SPIFFE IDs or patterns such as
 * `spiffe://cluster.local/ns/shop/*`) may call which routes of the app. With no rules everything is
 * allowed (as without a policy in Linkerd); once any rule exists, a request no rule allows is
 * refused — an unauthenticated caller can match no rule, so it is refused too.
 */
import type { Dispatcher } from 'undici';
import type { AuthorizationRule } from '../config/sidecar-schema.js';
import type { MeshRequest } from '../http/http-types.js';
import { compileRequestMatch } from '../policy/request-match.js';
import { spiffeIdMatches } from '../tls/spiffe-id.js';

export interface AuthorizationDecision {
  allowed: boolean;
  /** The rule that allowed it, for the access log. */
  rule?: string;
}

export type Authorize = (clientId: string | undefined, method: string, path: string, headers: MeshRequest['headers']) => AuthorizationDecision;

export function compileAuthorization(rules: AuthorizationRule[]): Authorize | undefined {
  if (rules.length === 0) return undefined;
  const compiled = rules.map((rule, i) => ({
    name: rule.name ?? `authorization[${i}]`,
    from: rule.from,
    routes: rule.routes?.map((route, j) => compileRequestMatch(route, `authorization[${i}].routes[${j}]`)),
  }));
  return (clientId, method, path, headers) => {
    if (clientId === undefined) return { allowed: false };
    const request = { method: method as Dispatcher.HttpMethod, path, headers } as MeshRequest;
    for (const rule of compiled) {
      if (!rule.from.some((pattern) => spiffeIdMatches(pattern, clientId))) continue;
      if (rule.routes === undefined || rule.routes.some((matches) => matches(request))) return { allowed: true, rule: rule.name };
    }
    return { allowed: false };
  };
}
