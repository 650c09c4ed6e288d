// Logging through proxy_log, at the spec's levels. The host drops lines below its level; use
// `log.enabled(level)` to skip building an expensive message.

import { proxy_get_log_level, proxy_log } from './imports';
import { borrow, encodeInto, RET_PTR, release, utf8Max } from './memory';
import { LogLevel, Status } from './types';

/** Logs `message` at `level`. */
export function logAt(level: LogLevel, message: string): Status {
  const buf = borrow(utf8Max(message));
  const len = encodeInto(message, buf);
  const status = <Status>proxy_log(<u32>level, buf, len);
  release(buf);
  return status;
}

export namespace log {
  export function trace(message: string): Status {
    return logAt(LogLevel.Trace, message);
  }
  export function debug(message: string): Status {
    return logAt(LogLevel.Debug, message);
  }
  export function info(message: string): Status {
    return logAt(LogLevel.Info, message);
  }
  export function warn(message: string): Status {
    return logAt(LogLevel.Warn, message);
  }
  export function error(message: string): Status {
    return logAt(LogLevel.Error, message);
  }
  export function critical(message: string): Status {
    return logAt(LogLevel.Critical, message);
  }
  /** The host's current log level (Info if the host cannot say). */
  export function level(): LogLevel {
    store<u32>(RET_PTR, <u32>LogLevel.Info);
    if (proxy_get_log_level(RET_PTR) != <u32>Status.Ok) return LogLevel.Info;
    return <LogLevel>load<u32>(RET_PTR);
  }
  /** Whether a line at `level` would be kept by the host. */
  export function enabled(l: LogLevel): bool {
    return l >= level();
  }
}
