// Errors the host raises, and the backtrace formatting used when a filter traps.

/** A module the host refuses to load (no ABI marker, unknown import, missing memory…). */
export class ModuleError extends Error {
  constructor(
    message: string,
    readonly source?: string,
  ) {
    super(source ? `${source}: ${message}` : message);
    this.name = 'ModuleError';
  }
}

/** Raised by WASI proc_exit: unwinds the guest like a trap. */
export class ProcExit extends Error {
  constructor(readonly code: number) {
    super(`proc_exit(${code}) called by the module`);
    this.name = 'ProcExit';
  }
}

/** A plugin that failed to start (on_vm_start / on_configure returned false or trapped). */
export class PluginStartError extends Error {
  constructor(
    message: string,
    readonly plugin: string,
  ) {
    super(`plugin ${plugin}: ${message}`);
    this.name = 'PluginStartError';
  }
}

/** A trap (or proc_exit) inside the guest, with the in-VM call stack. */
export class WasmTrap extends Error {
  constructor(
    readonly callback: string,
    override readonly cause: unknown,
    readonly backtrace: string[],
  ) {
    super(`${callback} failed: ${describe(cause)}`);
    this.name = 'WasmTrap';
  }
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * The wasm frames of a V8 stack trace, e.g. "explode_in_request_headers (wasm-function[12]:0x1a3)".
 * V8 reads function names from the module's name section.
 */
export function wasmBacktrace(e: unknown): string[] {
  if (!(e instanceof Error) || typeof e.stack !== 'string') return [];
  const frames: string[] = [];
  for (const line of e.stack.split('\n')) {
    const m = /^\s*at (?:(\S+) )?\(?wasm:\/\/wasm\/[^:]*:(wasm-function\[\d+\]:0x[0-9a-f]+)\)?/.exec(line);
    if (m) frames.push(`${m[1] ?? '<anonymous>'} (${m[2]})`);
  }
  return frames;
}
