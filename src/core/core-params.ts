/**
 * The Params every stack module can read, which the client fills in for all of them. The ones a
 * service's policy sets live with the policy (policy/policy-params.ts).
 */
import { systemClock, systemRandom, type Clock, type Random } from './clock.js';
import { Counters } from './counters.js';
import { silentLogger, type Logger } from './logger.js';
import { Param } from './params.js';

export const ServiceName = new Param<string>('serviceName', '');
export const ClockParam = new Param<Clock>('clock', systemClock);
export const RandomParam = new Param<Random>('random', systemRandom);
export const LoggerParam = new Param<Logger>('logger', silentLogger);
/** Where filters count what they did (retries, budget exhaustion, ejections, ...). */
export const CountersParam = new Param<Counters>('counters', new Counters());

/**
 * Which way a stack's requests go: out of this process to a service, in from the mesh to the app,
 * in from outside the mesh through the gateway, or out of the mesh to an allowed external host.
 */
export const DIRECTIONS = ['inbound', 'outbound', 'gateway', 'egress'] as const;
export type Direction = (typeof DIRECTIONS)[number];
export const DirectionParam = new Param<Direction>('direction', 'outbound');
