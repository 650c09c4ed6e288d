// wasmgate's public API: what embedders and filter authors build on, documented in docs/host.md
// ("Embedding"). Everything else under src/ is internal and may change in any release. The test harness
// is its own entry point, 'wasmgate/testing'.

// The ABI's vocabulary, as a driver and a filter's host side see it.
export { ByteBuffer } from './abi/byte-buffer.js';
export {
  AbiVersion,
  Action,
  BufferType,
  DataAction,
  LogLevel,
  type LogLevelName,
  MapType,
  MetricType,
  Status,
  StreamType,
  statusName,
} from './abi/constants.js';
export { type HeaderInit, HeaderMap, type HeaderPairs } from './abi/header-map.js';
export type { PropertyValue } from './abi/property-codec.js';
// The proxy: a gateway started from a configuration (a file, or YAML text), changed while serving.
export { ConfigError } from './control/config-error.js';
export { ConfigSource } from './control/config-source.js';
export { loadConfigFile, parseConfig, type ResolvedConfig } from './control/load-config.js';
// The host: compile a module, start a plugin, drive its streams through a driver you implement.
export { CAPABILITY_GROUPS, type CapabilityConfig, type OnViolation } from './host/capabilities.js';
export type { HttpContext, RootContext } from './host/context.js';
export type {
  CalloutDispatcher,
  CalloutHandle,
  ForeignFunction,
  GrpcCalloutRequest,
  GrpcEvents,
  GrpcHandle,
  HttpCalloutRequest,
  HttpCalloutResponse,
  HttpStreamDriver,
  LocalResponse,
} from './host/driver.js';
export { CpuLimitError, ModuleError, PluginStartError, ProcExit, WasmTrap } from './host/errors.js';
export { Host, type HostOptions, type LogEntry } from './host/host.js';
export { DEFAULT_LIMITS, type Limits } from './host/limits.js';
export type { CompiledModule } from './host/module.js';
export { type FailStrategy, Plugin, type PluginOptions, type PluginState } from './host/plugin.js';
export { type SanitizeConfig, SUGGESTED_HIDDEN_HEADERS } from './host/sanitize.js';
export type { Address, StreamInfo } from './host/stream-attributes.js';
export { type ApplyReport, Gateway, type GatewayOptions } from './server/gateway.js';
