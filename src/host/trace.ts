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

/** One argument or result of a hostcall, read by its kind in the hostcall table (views into guest memory). */
export type ArgValue =
  | { k: 'n'; v: number | bigint }
  | { k: 's'; v: Uint8Array }
  | { k: 'm'; v: Uint8Array }
  | { k: 'p'; v: string }
  | { k: 'bad' };

/** A return slot the guest passed, read after the call (S/M: pointer and size slots; u/U: one slot). */
export interface OutSlot {
  kind: string;
  a: number;
  b: number;
}

const BAD: ArgValue = { k: 'bad' };

/**
 * Reads the arguments the guest passed by their kinds in the hostcall table; `outs` collects the return
 * slots to read afterwards. Byte values are views: copy what is kept past the call.
 */
export function readArgs(
  vm: HostcallEnv,
  sig: ArgKinds,
  args: readonly unknown[],
  outs: OutSlot[],
): ArgValue[] {
  const shown: ArgValue[] = [];
  let k = 0;
  const mem = vm.memory;
  // What the trace reads is no data the guest handed over: left out of the cost's bytes (plugin-cost.ts).
  const read = (f: () => ArgValue): ArgValue => {
    const counted = mem.tally.bytesToHost;
    try {
      return f();
    } catch {
      return BAD;
    } finally {
      mem.tally.bytesToHost = counted;
    }
  };
  for (const kind of sig) {
    switch (kind) {
      case 'i':
        shown.push({ k: 'n', v: (args[k++] as number) | 0 });
        break;
      case 'l':
        shown.push({ k: 'n', v: args[k++] as bigint });
        break;
      case 's':
      case 'm': {
        const [p, n] = [args[k++] as number, args[k++] as number];
        shown.push(read(() => ({ k: kind, v: mem.view(p, n) })));
        break;
      }
      case 'p': {
        const [p, n] = [args[k++] as number, args[k++] as number];
        shown.push(read(() => ({ k: 'p', v: mem.string(p, n).split('\0').join('.') })));
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
  for (; k < args.length; k++) shown.push({ k: 'n', v: args[k] as number });
  return shown;
}

/** Reads the return slots once the call returned OK. */
export function readOuts(vm: HostcallEnv, outs: readonly OutSlot[]): ArgValue[] {
  const mem = vm.memory;
  return outs.map((o): ArgValue => {
    const counted = mem.tally.bytesToHost;
    try {
      switch (o.kind) {
        case 'u':
          return { k: 'n', v: mem.u32(o.a) };
        case 'U':
          return { k: 'n', v: mem.u64(o.a) };
        case 'S':
          return { k: 's', v: mem.view(mem.u32(o.a), mem.u32(o.b)) };
        default:
          return { k: 'm', v: mem.view(mem.u32(o.a), mem.u32(o.b)) };
      }
    } catch {
      return BAD;
    } finally {
      mem.tally.bytesToHost = counted;
    }
  });
}

/** An argument or result as the trace log shows it. */
export function formatArg(a: ArgValue): string {
  switch (a.k) {
    case 'n':
      return String(a.v);
    case 's':
      return quote(a.v);
    case 'm':
      return quoteMap(a.v);
    case 'p':
      return JSON.stringify(a.v);
    default:
      return '<bad pointer>';
  }
}

/** A hostcall's result as the trace log shows it: a status name, or a WASI errno name. */
export function formatResult(result: unknown, wasi: boolean): string {
  if (typeof result !== 'number') return '';
  return wasi ? (ERRNO_NAMES[result] ?? `errno ${result}`) : statusName(result);
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
export function tracedHostcall(vm: HostcallEnv, name: string, raw: Fn, wasi: boolean): Fn {
  const sig = hostcallSpec('env', name)?.args ?? '';
  const f = raw as unknown as (...a: unknown[]) => unknown;
  return ((...args: unknown[]) => {
    if (!traceWanted(vm)) return f(...args);
    const outs: OutSlot[] = [];
    const shown = wasi ? args.map(String) : readArgs(vm, sig, args, outs).map(formatArg);
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
    let text = typeof result === 'number' ? ` -> ${formatResult(result, wasi)}` : '';
    if (!wasi && result === 0 && outs.length > 0) text += ` ${readOuts(vm, outs).map(formatArg).join(' ')}`;
    traceLine(vm, `[vm->host] ${name}(${shown.join(', ')})${text}`);
    return result;
  }) as unknown as Fn;
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
