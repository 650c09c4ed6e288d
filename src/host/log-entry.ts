// One line of the host's log: what filters write (proxy_log, WASI stdout/stderr), the host's own reports and
// the wasm trace. Its own file so that the hostcalls can name it without importing the Host.

import type { LogLevelName } from '../abi/constants.js';

export interface LogEntry {
  level: LogLevelName;
  message: string;
  /** Plugin name, when the entry comes from (or is about) a plugin. */
  plugin?: string;
  vmId?: string;
  rootId?: string;
  contextId?: number;
  /** 'filter' for proxy_log / WASI writes, 'host' for the host's own reports, 'trace' for the wasm trace. */
  source: 'filter' | 'host' | 'trace';
  /** In-VM call stack, for traps. */
  backtrace?: string[];
}
