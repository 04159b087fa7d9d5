/**
 * The stack parameters a service's policy sets, each with its default and where in the validated
 * policy it comes from. The filters that read one import it from here, the policy's home, rather
 * than from each other.
 */
import { Param } from '../core/params.js';
import type { CircuitBreakerPolicy, FaultPolicy, HedgingPolicy, LimitsPolicy, MirrorPolicy, RetryPolicy, RoutePolicy, SplitDestination, TimeoutPolicy } from '../core/policy.js';

export const RoutesParam = new Param<RoutePolicy[]>('routes', [], (policy) => policy.routes ?? []);
export const LimitsParam = new Param<LimitsPolicy>('limits', {}, (policy) => policy.limits ?? {});
export const TimeoutPolicyParam = new Param<TimeoutPolicy>('timeouts', {}, (policy) => policy.timeouts ?? {});
export const FaultPolicyParam = new Param<FaultPolicy[]>('faults', [], (policy) => policy.faults ?? []);
export const RetryPolicyParam = new Param<RetryPolicy | false>('retries', {}, (policy) => policy.retries ?? {});
export const SplitParam = new Param<SplitDestination[]>('split', [], (policy) => policy.split ?? []);
export const CircuitBreakerPolicyParam = new Param<CircuitBreakerPolicy | false>('circuitBreaker', {}, (policy) => policy.circuitBreaker ?? {});
export const MirrorParam = new Param<MirrorPolicy | undefined>('mirror', undefined, (policy) => policy.mirror);
export const HedgingParam = new Param<HedgingPolicy | undefined>('hedging', undefined, (policy) => policy.hedging);
