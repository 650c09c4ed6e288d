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
import type { WasmVm } from './vm.js';

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

/**
 * Argument kinds, in order (each consumes the wasm arguments it names):
 *   i   an i32, printed signed                    l   an i64
 *   s   (ptr, len) a string                       m   (ptr, len) a serialized header map
 *   p   (ptr, len) a property path (NUL-separated segments, printed dotted)
 *   S   (ptr_ptr, size_ptr) a returned string/bytes     M   (ptr_ptr, size_ptr) a returned map
 *   u   (ptr) a returned u32                      U   (ptr) a returned u64
 * Returned values are printed after the status when the call succeeded.
 */
const SIGNATURES: Record<string, string> = {
  proxy_log: 'is',
  proxy_get_log_level: 'u',
  proxy_get_current_time_nanoseconds: 'U',
  proxy_set_tick_period_milliseconds: 'i',
  proxy_get_buffer_bytes: 'iiiS',
  proxy_set_buffer_bytes: 'iiis',
  proxy_get_buffer_status: 'iuu',
  proxy_get_configuration: 'S',
  proxy_get_header_map_pairs: 'iM',
  proxy_set_header_map_pairs: 'im',
  proxy_get_header_map_size: 'iu',
  proxy_get_header_map_value: 'isS',
  proxy_add_header_map_value: 'iss',
  proxy_replace_header_map_value: 'iss',
  proxy_remove_header_map_value: 'is',
  proxy_continue_stream: 'i',
  proxy_close_stream: 'i',
  proxy_continue_request: '',
  proxy_continue_response: '',
  proxy_send_local_response: 'issmi',
  proxy_clear_route_cache: '',
  proxy_done: '',
  proxy_set_effective_context: 'i',
  proxy_get_status: 'uS',
  proxy_http_call: 'smsmiu',
  proxy_grpc_call: 'sssmsiu',
  proxy_grpc_stream: 'sssmu',
  proxy_grpc_send: 'isi',
  proxy_grpc_cancel: 'i',
  proxy_grpc_close: 'i',
  proxy_get_shared_data: 'sSu',
  proxy_set_shared_data: 'ssi',
  proxy_register_shared_queue: 'su',
  proxy_resolve_shared_queue: 'ssu',
  proxy_enqueue_shared_queue: 'is',
  proxy_dequeue_shared_queue: 'iS',
  proxy_define_metric: 'isu',
  proxy_increment_metric: 'il',
  proxy_record_metric: 'il',
  proxy_get_metric: 'iU',
  proxy_get_property: 'pS',
  proxy_set_property: 'ps',
  proxy_call_foreign_function: 'ssS',
  emscripten_notify_memory_growth: 'i',
  pthread_equal: 'ii',
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

/** Decodes the arguments the guest passed; `outs` collects the return slots to read afterwards. */
function decodeArgs(
  vm: WasmVm,
  sig: string,
  args: unknown[],
  outs: Array<{ kind: string; a: number; b: number }>,
): string[] {
  const shown: string[] = [];
  let k = 0;
  const mem = vm.memory;
  const read = (f: () => string) => {
    try {
      return f();
    } catch {
      return '<bad pointer>';
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

function decodeOuts(vm: WasmVm, outs: Array<{ kind: string; a: number; b: number }>): string[] {
  const mem = vm.memory;
  return outs.map((o) => {
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
    }
  });
}

/** Whether a trace line is wanted now: the running context's plugin traces (any plugin, outside one). */
export function traceWanted(vm: WasmVm): boolean {
  const ctx = vm.current;
  return ctx ? ctx.plugin.trace : vm.tracing;
}

export function traceLine(vm: WasmVm, message: string): void {
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
export function tracedHostcall(vm: WasmVm, name: string, raw: Fn, wasi: boolean): Fn {
  const sig = SIGNATURES[name] ?? '';
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
