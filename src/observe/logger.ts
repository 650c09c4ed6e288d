// Structured logs (pino, JSON lines). Filter logs carry the plugin name and context id; the level can be
// changed at run time (admin API), for the proxy and the filters alike.

import pino, { type Logger } from 'pino';
import type { LogLevelName } from '../abi/constants.js';
import type { LogEntry } from '../host/host.js';

const PINO_LEVEL: Record<LogLevelName, pino.Level> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  critical: 'fatal',
};

export function createLogger(level: LogLevelName, destination: string | number = 2): Logger {
  return pino(
    { level: PINO_LEVEL[level], base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: destination, sync: true }),
  );
}

export function setLoggerLevel(logger: Logger, level: LogLevelName): void {
  logger.level = PINO_LEVEL[level];
}

/**
 * The host's log sink: one JSON line per entry. Wasm trace lines (source "trace") go out at level trace
 * whatever the logger's level: the plugin's trace switch decides whether they are written.
 */
export function hostLogSink(logger: Logger): (e: LogEntry) => void {
  let tracer: Logger | undefined;
  return (e) => {
    const fields: Record<string, unknown> = { source: e.source };
    if (e.plugin !== undefined) fields.plugin = e.plugin;
    if (e.contextId !== undefined) fields.context_id = e.contextId;
    if (e.vmId) fields.vm_id = e.vmId;
    if (e.backtrace?.length) fields.backtrace = e.backtrace;
    if (e.source === 'trace') {
      tracer ??= logger.child({}, { level: 'trace' });
      tracer.trace(fields, e.message);
    } else logger[PINO_LEVEL[e.level]](fields, e.message);
  };
}
