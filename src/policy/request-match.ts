/**
 * Compiles a RequestMatch (Linkerd ServiceProfile `condition`, plus Istio-style header matches) into
 * a predicate once, at config time, so matching a request costs no regex compilation. Linkerd
 * anchors `pathRegex` to the whole path; so does this, and the query string is not part of the path.
 */
import { MeshError } from '../core/errors.js';
import type { RequestMatch } from '../core/policy.js';
import type { MeshRequest } from '../http/http-types.js';
import { headerValue } from '../http/header-shapes.js';

export type RequestPredicate = (req: MeshRequest) => boolean;

export function compileRequestMatch(match: RequestMatch, where = 'condition'): RequestPredicate {
  const tests: RequestPredicate[] = [];
  if (match.method !== undefined) {
    const method = match.method.toUpperCase();
    tests.push((req) => req.method.toUpperCase() === method);
  }
  if (match.pathRegex !== undefined) {
    const regex = compileRegex(match.pathRegex, `${where}.pathRegex`);
    tests.push((req) => regex.test(pathOnly(req.path)));
  }
  if (match.headers !== undefined) {
    for (const [rawName, expected] of Object.entries(match.headers)) {
      const name = rawName.toLowerCase();
      const check = compileHeaderCheck(expected, `${where}.headers.${rawName}`);
      tests.push((req) => check(headerValue(req.headers, name)));
    }
  }
  if (match.all !== undefined) {
    const all = match.all.map((m, i) => compileRequestMatch(m, `${where}.all[${i}]`));
    tests.push((req) => all.every((p) => p(req)));
  }
  if (match.any !== undefined) {
    const any = match.any.map((m, i) => compileRequestMatch(m, `${where}.any[${i}]`));
    tests.push((req) => any.some((p) => p(req)));
  }
  if (match.not !== undefined) {
    const not = compileRequestMatch(match.not, `${where}.not`);
    tests.push((req) => !not(req));
  }
  if (tests.length === 1) return tests[0]!;
  return (req) => tests.every((t) => t(req));
}

function compileHeaderCheck(
  expected: string | { exact?: string; regex?: string; prefix?: string; present?: boolean },
  where: string,
): (value: string | undefined) => boolean {
  if (typeof expected === 'string') return (v) => v === expected;
  const checks: ((v: string | undefined) => boolean)[] = [];
  if (expected.exact !== undefined) checks.push((v) => v === expected.exact);
  if (expected.prefix !== undefined) checks.push((v) => v !== undefined && v.startsWith(expected.prefix!));
  if (expected.regex !== undefined) {
    const regex = compileRegex(expected.regex, `${where}.regex`);
    checks.push((v) => v !== undefined && regex.test(v));
  }
  if (expected.present !== undefined) checks.push((v) => (v !== undefined) === expected.present);
  if (checks.length === 0) checks.push((v) => v !== undefined);
  return (v) => checks.every((c) => c(v));
}

function compileRegex(source: string, where: string): RegExp {
  try {
    return new RegExp(`^(?:${source})$`);
  } catch (err) {
    throw new MeshError('INVALID_CONFIG', `${where}: ${JSON.stringify(source)} is not a valid regular expression (${(err as Error).message})`);
  }
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}
