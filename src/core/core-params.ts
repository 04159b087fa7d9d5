/**
 * The Params every stack module can read. Each filter declares its own policy Param next to itself;
 * these are the ones the client fills in for all of them.
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
