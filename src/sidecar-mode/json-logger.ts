/**
 * mesh-sidecar's logs: one JSON object per line on stderr, so any log shipper (Fluent Bit, Vector,
 * Loki's promtail) can read them without a parser of its own. The library stays silent; only the
 * sidecar binary makes one of these.
 */
import type { Logger, LogFields } from '../core/logger.js';
import type { LogLevel } from '../config/sidecar-schema.js';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface JsonLogger extends Logger {
  level: LogLevel;
}

export function jsonLogger(level: LogLevel, write: (line: string) => void = (line) => process.stderr.write(line)): JsonLogger {
  const logger: JsonLogger = {
    level,
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
  };
  function emit(at: LogLevel, message: string, fields: LogFields | undefined): void {
    if (RANK[at] < RANK[logger.level]) return;
    let line: string;
    try {
      line = JSON.stringify({ time: new Date().toISOString(), level: at, msg: message, ...fields });
    } catch {
      // A field that cannot be serialised (a cycle, a BigInt) must not lose the message itself.
      line = JSON.stringify({ time: new Date().toISOString(), level: at, msg: message, fields: '(unserialisable)' });
    }
    write(`${line}\n`);
  }
  return logger;
}
