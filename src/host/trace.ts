// The wasm trace log: every callback into a VM and every hostcall out of it, with decoded arguments and
// results, one line each, like Envoy's wasm:trace:
//
//   [host->vm] proxy_on_request_headers(2, 8, 1)
//   [vm->host] proxy_get_header_map_value(0, ":path") -> OK "/x"
//   [host<-vm] proxy_on_request_headers -> 0
//
// Tracing costs nothing while it is off: the import table is the plain guarded one (each guarded hostcall
// calls its implementation through a slot that tracing swaps, see hostcalls/guard.ts), and a callback
// pays one boolean test.

import { statusName } from '../abi/constants.js';
import { decodePairs } from '../abi/header-map.js';
import { type ArgKinds, hostcallSpec } from '../abi/hostcalls.js';
import { WasmTrap } from './errors.js';
import type { CallContext, HostcallEnv } from './hostcalls/env.js';
import type { HostcallSlot } from './hostcalls/guard.js';

type Fn = (...args: never[]) => unknown;

const ERRNO_NAMES: Record<number, string> = {
  0: 'SUCCESS',
  8: 'BADF',
  21: 'FAULT',
  28: 'INVAL',
  52: 'NOSYS',
  58: 'NOTSUP',
  70: 'SPIPE',
  76: 'NOTCAPABLE',
};

const MAX_TEXT = 256;
const decoder = new TextDecoder('utf-8', { fatal: false });

function quote(bytes: Uint8Array): string {
  const text = decoder.decode(bytes.subarray(0, MAX_TEXT));
  const s = JSON.stringify(text);
  return bytes.length > MAX_TEXT ? `${s}… (${bytes.length} bytes)` : s;
}

function quoteMap(bytes: Uint8Array): string {
  const pairs = decodePairs(bytes);
  if (!pairs) return `<malformed map, ${bytes.length} bytes>`;
  return `{${pairs.map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')}}`;
}

/**
 * Decodes the arguments the guest passed by their kinds in the hostcall table; `outs` collects the return
 * slots to read afterwards.
 */
function decodeArgs(
  vm: HostcallEnv,
  sig: ArgKinds,
  args: unknown[],
  outs: Array<{ kind: string; a: number; b: number }>,
): string[] {
  const shown: string[] = [];
  let k = 0;
  const mem = vm.memory;
  // What the trace reads is no data the guest handed over: left out of the cost's bytes (plugin-cost.ts).
  const read = (f: () => string) => {
    const counted = mem.tally.bytesToHost;
    try {
      return f();
    } catch {
      return '<bad pointer>';
    } finally {
      mem.tally.bytesToHost = counted;
    }
  };
  for (const kind of sig) {
    switch (kind) {
      case 'i':
        shown.push(String((args[k++] as number) | 0));
        break;
      case 'l':
        shown.push(String(args[k++]));
        break;
      case 's': {
        const [p, n] = [args[k++] as number, args[k++] as number];
        shown.push(read(() => quote(mem.view(p, n))));
        break;
      }
      case 'm': {
        const [p, n] = [args[k++] as number, args[k++] as number];
        shown.push(read(() => quoteMap(mem.view(p, n))));
        break;
      }
      case 'p': {
        const [p, n] = [args[k++] as number, args[k++] as number];
        shown.push(read(() => JSON.stringify(mem.string(p, n).split('\0').join('.'))));
        break;
      }
      case 'S':
      case 'M':
        outs.push({ kind, a: args[k++] as number, b: args[k++] as number });
        break;
      case 'u':
      case 'U':
        outs.push({ kind, a: args[k++] as number, b: 0 });
        break;
    }
  }
  // Arguments the table does not describe (or a hostcall without an entry): raw numbers.
  for (; k < args.length; k++) shown.push(String(args[k]));
  return shown;
}

function decodeOuts(vm: HostcallEnv, outs: Array<{ kind: string; a: number; b: number }>): string[] {
  const mem = vm.memory;
  return outs.map((o) => {
    const counted = mem.tally.bytesToHost;
    try {
      switch (o.kind) {
        case 'u':
          return String(mem.u32(o.a));
        case 'U':
          return String(mem.u64(o.a));
        case 'S':
          return quote(mem.view(mem.u32(o.a), mem.u32(o.b)));
        default:
          return quoteMap(mem.view(mem.u32(o.a), mem.u32(o.b)));
      }
    } catch {
      return '<bad pointer>';
    } finally {
      mem.tally.bytesToHost = counted;
    }
  });
}

/** Whether a trace line is wanted now: the running context's plugin traces (any plugin, outside one). */
export function traceWanted(vm: HostcallEnv): boolean {
  const ctx = vm.current;
  return ctx ? ctx.plugin.trace : vm.tracing;
}

export function traceLine(vm: HostcallEnv, message: string): void {
  const ctx = vm.current;
  vm.host.trace({
    level: 'trace',
    source: 'trace',
    message,
    plugin: ctx?.plugin.name,
    vmId: vm.vmId,
    rootId: ctx?.plugin.rootId,
    contextId: ctx?.id,
  });
}

/** A hostcall implementation that logs its call, decoded, after it returned. */
function tracedHostcall(vm: HostcallEnv, name: string, raw: Fn, wasi: boolean): Fn {
  const sig = hostcallSpec('env', name)?.args ?? '';
  const f = raw as unknown as (...a: unknown[]) => unknown;
  return ((...args: unknown[]) => {
    if (!traceWanted(vm)) return f(...args);
    const outs: Array<{ kind: string; a: number; b: number }> = [];
    const shown = wasi ? args.map(String) : decodeArgs(vm, sig, args, outs);
    let result: unknown;
    try {
      result = f(...args);
    } catch (e) {
      traceLine(
        vm,
        `[vm->host] ${name}(${shown.join(', ')}) -> threw ${e instanceof Error ? e.name : String(e)}`,
      );
      throw e;
    }
    let text: string;
    if (typeof result !== 'number') text = '';
    else if (wasi) text = ` -> ${ERRNO_NAMES[result] ?? `errno ${result}`}`;
    else {
      text = ` -> ${statusName(result)}`;
      if (result === 0 && outs.length > 0) text += ` ${decodeOuts(vm, outs).join(' ')}`;
    }
    traceLine(vm, `[vm->host] ${name}(${shown.join(', ')})${text}`);
    return result;
  }) as unknown as Fn;
}

/**
 * Turns the trace log on or off for a VM's hostcalls: swaps every guarded hostcall's implementation for a
 * logging one (or back). Lines are written only for contexts whose plugin traces.
 */
export function traceHostcalls(vm: HostcallEnv, slots: readonly HostcallSlot[], on: boolean): void {
  for (const slot of slots) slot.set(on ? tracedHostcall(vm, slot.name, slot.raw, slot.wasi) : slot.raw);
}

/** A callback into the guest, logged with its arguments and its result (or trap) when its plugin traces. */
export function tracedCallback(
  vm: HostcallEnv,
  ctx: CallContext,
  name: string,
  args: ReadonlyArray<number | undefined>,
  run: () => number | undefined,
): number | undefined {
  if (!ctx.plugin.trace) return run();
  const shown = args.filter((x) => x !== undefined).map((x) => String((x as number) | 0));
  const prev = vm.current;
  const line = (text: string) => {
    vm.current = ctx;
    traceLine(vm, text);
    vm.current = prev;
  };
  line(`[host->vm] ${name}(${shown.join(', ')})`);
  let r: number | undefined;
  try {
    r = run();
  } catch (err) {
    const cause = err instanceof WasmTrap ? describe(err.cause) : String(err);
    line(`[host<-vm] ${name} -> trap: ${cause}`);
    throw err;
  }
  line(`[host<-vm] ${name} -> ${r}`);
  return r;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
