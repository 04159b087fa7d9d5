/**
 * A service's or route's `faults`, checked and with their matches compiled once, for the HTTP fault
 * filter and grpcClient's fault step alike. A fault without a match applies to every request
 * (`matches` undefined, so a caller that must build a request to test one can skip that).
 */
import { MeshError } from '../core/errors.js';
import type { FaultPolicy } from '../core/policy.js';
import { compileRequestMatch, type RequestPredicate } from './request-match.js';

export interface CompiledFault {
  matches: RequestPredicate | undefined;
  delay: FaultPolicy['delay'];
  abort: FaultPolicy['abort'];
}

export function compileFaults(faults: readonly FaultPolicy[], where: string): CompiledFault[] {
  return faults.map((f, i) => {
    if (!f.delay && !f.abort) throw new MeshError('INVALID_OPTIONS', `${where}[${i}]: give a delay, an abort, or both`);
    return { matches: f.match ? compileRequestMatch(f.match, `${where}[${i}].match`) : undefined, delay: f.delay, abort: f.abort };
  });
}
