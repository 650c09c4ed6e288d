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

/** A callback that ran past its CPU time limit: the VM is stopped with a trap. */
export class CpuLimitError extends Error {
  constructor(
    readonly elapsedMs: number,
    readonly limitMs: number,
  ) {
    super(`CPU limit exceeded: the callback ran for ${Math.round(elapsedMs)} ms (limit ${limitMs} ms)`);
    this.name = 'CpuLimitError';
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
    /** The memory limit refused a memory.grow in the call that trapped (the likely cause). */
    readonly memoryLimit = false,
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
 * Turns a frame's position in the running module into the original module's (function index, offset)
 * and, when the module carries debug information, a source location ("filter.c:42:7").
 */
export type FrameSymbolizer = (
  functionIndex: number,
  offset: number,
) => { functionIndex: number; offset: number; location?: string };

/**
 * The wasm frames of a V8 stack trace, e.g. "explode_in_request_headers (wasm-function[12]:0x1a3)", or
 * with a source location "explode (wasm-function[12]:0x1a3) at filter.c:42:7". V8 reads function names
 * from the module's name section.
 */
export function wasmBacktrace(e: unknown, symbolize?: FrameSymbolizer): string[] {
  if (!(e instanceof Error) || typeof e.stack !== 'string') return [];
  const frames: string[] = [];
  for (const line of e.stack.split('\n')) {
    const m = /^\s*at (?:(\S+) )?\(?wasm:\/\/wasm\/[^:]*:wasm-function\[(\d+)\]:0x([0-9a-f]+)\)?/.exec(line);
    if (!m) continue;
    let fn = Number(m[2]);
    let offset = Number.parseInt(m[3], 16);
    let location: string | undefined;
    if (symbolize) {
      const s = symbolize(fn, offset);
      fn = s.functionIndex;
      offset = s.offset;
      location = s.location;
    }
    frames.push(
      `${m[1] ?? '<anonymous>'} (wasm-function[${fn}]:0x${offset.toString(16)})${location ? ` at ${location}` : ''}`,
    );
  }
  return frames;
}
