// Every host function a module may import, as data: name, import module, parameters (as argument kinds,
// which give both the wasm types and how the trace log decodes them), results, capability group and the ABI
// versions cpp-host links it for. Module loading, the link checks, capabilities, the trace log, the guard
// wrappers and the config schema read this table; the implementations (src/host/hostcalls) only provide a
// function per entry.

import { AbiVersion } from './constants.js';

/**
 * Argument kinds, in order (each stands for the wasm parameters it names):
 *   i   an i32, printed signed                    l   an i64
 *   s   (ptr, len) a string                       m   (ptr, len) a serialized header map
 *   p   (ptr, len) a property path (NUL-separated segments, printed dotted)
 *   S   (ptr_ptr, size_ptr) a returned string/bytes     M   (ptr_ptr, size_ptr) a returned map
 *   u   (ptr) a returned u32                      U   (ptr) a returned u64
 */
export type ArgKinds = string;

export type WasmValueType = 'i32' | 'i64';

export type HostcallModule = 'env' | 'wasi';

/**
 * Capability groups, as the spec groups the functions. `lifecycle` (what contexts cannot work without, and
 * toolchain helpers that reach nothing outside the VM) is always allowed and not a group one can name.
 */
export const CAPABILITY_GROUP_NAMES = [
  'logging',
  'timers',
  'buffers',
  'headers',
  'stream',
  'http_call',
  'grpc_call',
  'shared_data',
  'shared_queue',
  'metrics',
  'properties',
  'foreign_function',
  'wasi',
] as const;

export type CapabilityGroup = (typeof CAPABILITY_GROUP_NAMES)[number] | 'lifecycle';

export interface HostcallSpec {
  readonly name: string;
  readonly module: HostcallModule;
  readonly args: ArgKinds;
  readonly params: readonly WasmValueType[];
  readonly results: readonly WasmValueType[];
  readonly group: CapabilityGroup;
  /** The ABI versions cpp-host links it for (WasmBase::registerCallbacks); undefined: every version. */
  readonly abi?: readonly AbiVersion[];
}

const KIND_PARAMS: Readonly<Record<string, readonly WasmValueType[]>> = {
  i: ['i32'],
  l: ['i64'],
  s: ['i32', 'i32'],
  m: ['i32', 'i32'],
  p: ['i32', 'i32'],
  S: ['i32', 'i32'],
  M: ['i32', 'i32'],
  u: ['i32'],
  U: ['i32'],
};

function spec(
  module: HostcallModule,
  name: string,
  group: CapabilityGroup,
  args: ArgKinds,
  results: readonly WasmValueType[] = ['i32'],
  abi?: readonly AbiVersion[],
): HostcallSpec {
  const params: WasmValueType[] = [];
  for (const k of args) {
    const p = KIND_PARAMS[k];
    if (!p) throw new Error(`hostcall table: unknown argument kind "${k}" for ${name}`);
    params.push(...p);
  }
  return Object.freeze({ name, module, args, params, results, group, abi });
}

const V010 = [AbiVersion.V0_1_0];
const V02X = [AbiVersion.V0_2_0, AbiVersion.V0_2_1];
const NONE: readonly WasmValueType[] = [];

/** The env (Proxy-Wasm) functions, parameter counts as cpp-host declares them; proxy_* return a status. */
const ENV: readonly HostcallSpec[] = [
  spec('env', 'proxy_log', 'logging', 'is'),
  spec('env', 'proxy_get_log_level', 'logging', 'u', undefined, [AbiVersion.V0_2_1]),
  spec('env', 'proxy_get_current_time_nanoseconds', 'timers', 'U'),
  spec('env', 'proxy_set_tick_period_milliseconds', 'timers', 'i'),
  spec('env', 'proxy_get_buffer_bytes', 'buffers', 'iiiS'),
  spec('env', 'proxy_set_buffer_bytes', 'buffers', 'iiis'),
  spec('env', 'proxy_get_buffer_status', 'buffers', 'iuu'),
  spec('env', 'proxy_get_configuration', 'buffers', 'S', undefined, V010),
  spec('env', 'proxy_get_header_map_pairs', 'headers', 'iM'),
  spec('env', 'proxy_set_header_map_pairs', 'headers', 'im'),
  spec('env', 'proxy_get_header_map_size', 'headers', 'iu'),
  spec('env', 'proxy_get_header_map_value', 'headers', 'isS'),
  spec('env', 'proxy_add_header_map_value', 'headers', 'iss'),
  spec('env', 'proxy_replace_header_map_value', 'headers', 'iss'),
  spec('env', 'proxy_remove_header_map_value', 'headers', 'is'),
  spec('env', 'proxy_continue_stream', 'stream', 'i', undefined, V02X),
  spec('env', 'proxy_close_stream', 'stream', 'i', undefined, V02X),
  spec('env', 'proxy_continue_request', 'stream', '', undefined, V010),
  spec('env', 'proxy_continue_response', 'stream', '', undefined, V010),
  spec('env', 'proxy_send_local_response', 'stream', 'issmi'),
  spec('env', 'proxy_clear_route_cache', 'stream', '', undefined, V010),
  spec('env', 'proxy_http_call', 'http_call', 'smsmiu'),
  spec('env', 'proxy_grpc_call', 'grpc_call', 'sssmsiu'),
  spec('env', 'proxy_grpc_stream', 'grpc_call', 'sssmu'),
  spec('env', 'proxy_grpc_send', 'grpc_call', 'isi'),
  spec('env', 'proxy_grpc_cancel', 'grpc_call', 'i'),
  spec('env', 'proxy_grpc_close', 'grpc_call', 'i'),
  spec('env', 'proxy_get_shared_data', 'shared_data', 'sSu'),
  spec('env', 'proxy_set_shared_data', 'shared_data', 'ssi'),
  spec('env', 'proxy_register_shared_queue', 'shared_queue', 'su'),
  spec('env', 'proxy_resolve_shared_queue', 'shared_queue', 'ssu'),
  spec('env', 'proxy_enqueue_shared_queue', 'shared_queue', 'is'),
  spec('env', 'proxy_dequeue_shared_queue', 'shared_queue', 'iS'),
  spec('env', 'proxy_define_metric', 'metrics', 'isu'),
  spec('env', 'proxy_increment_metric', 'metrics', 'il'),
  spec('env', 'proxy_record_metric', 'metrics', 'il'),
  spec('env', 'proxy_get_metric', 'metrics', 'iU'),
  spec('env', 'proxy_get_property', 'properties', 'pS'),
  spec('env', 'proxy_set_property', 'properties', 'ps'),
  spec('env', 'proxy_call_foreign_function', 'foreign_function', 'ssS'),
  spec('env', 'proxy_done', 'lifecycle', ''),
  spec('env', 'proxy_set_effective_context', 'lifecycle', 'i'),
  spec('env', 'proxy_get_status', 'lifecycle', 'uS'),
  // Emscripten-built modules (the C++ SDK) may import these.
  spec('env', 'emscripten_notify_memory_growth', 'lifecycle', 'i', NONE),
  spec('env', 'pthread_equal', 'lifecycle', 'ii'),
];

/** WASI preview1, every function (what Envoy does not serve answers ENOSYS): its signatures, i32 errno results. */
const WASI_ARGS: ReadonlyArray<readonly [string, ArgKinds]> = [
  ['args_get', 'ii'],
  ['args_sizes_get', 'ii'],
  ['environ_get', 'ii'],
  ['environ_sizes_get', 'ii'],
  ['clock_res_get', 'ii'],
  ['clock_time_get', 'ili'],
  ['fd_advise', 'illi'],
  ['fd_allocate', 'ill'],
  ['fd_close', 'i'],
  ['fd_datasync', 'i'],
  ['fd_fdstat_get', 'ii'],
  ['fd_fdstat_set_flags', 'ii'],
  ['fd_fdstat_set_rights', 'ill'],
  ['fd_filestat_get', 'ii'],
  ['fd_filestat_set_size', 'il'],
  ['fd_filestat_set_times', 'illi'],
  ['fd_pread', 'iiili'],
  ['fd_prestat_get', 'ii'],
  ['fd_prestat_dir_name', 'iii'],
  ['fd_pwrite', 'iiili'],
  ['fd_read', 'iiii'],
  ['fd_readdir', 'iiili'],
  ['fd_renumber', 'ii'],
  ['fd_seek', 'ilii'],
  ['fd_sync', 'i'],
  ['fd_tell', 'ii'],
  ['fd_write', 'iiii'],
  ['path_create_directory', 'iii'],
  ['path_filestat_get', 'iiiii'],
  ['path_filestat_set_times', 'iiiilli'],
  ['path_link', 'iiiiiii'],
  ['path_open', 'iiiiillii'],
  ['path_readlink', 'iiiiii'],
  ['path_remove_directory', 'iii'],
  ['path_rename', 'iiiiii'],
  ['path_symlink', 'iiiii'],
  ['path_unlink_file', 'iii'],
  ['poll_oneoff', 'iiii'],
  ['proc_exit', 'i'],
  ['proc_raise', 'i'],
  ['sched_yield', ''],
  ['random_get', 'ii'],
  ['sock_accept', 'iii'],
  ['sock_recv', 'iiiiii'],
  ['sock_send', 'iiiii'],
  ['sock_shutdown', 'ii'],
];

const WASI: readonly HostcallSpec[] = WASI_ARGS.map(([name, args]) =>
  spec('wasi', name, 'wasi', args, name === 'proc_exit' ? NONE : ['i32']),
);

/** The import module names WASI is linked under. */
export const WASI_MODULES: readonly string[] = ['wasi_snapshot_preview1', 'wasi_unstable'];

export const HOSTCALLS: readonly HostcallSpec[] = [...ENV, ...WASI];

const ENV_BY_NAME = new Map(ENV.map((s) => [s.name, s]));
const WASI_BY_NAME = new Map(WASI.map((s) => [s.name, s]));

/** The table's entry for an import (module as the module names it: env, wasi_snapshot_preview1 …). */
export function hostcallSpec(importModule: string, name: string): HostcallSpec | undefined {
  if (importModule === 'env') return ENV_BY_NAME.get(name);
  if (WASI_MODULES.includes(importModule)) return WASI_BY_NAME.get(name);
  return undefined;
}

/** Names of every hostcall, grouped by import module, sorted. */
export function hostcallNames(): { env: string[]; wasi: string[] } {
  return { env: [...ENV_BY_NAME.keys()].sort(), wasi: [...WASI_BY_NAME.keys()].sort() };
}
