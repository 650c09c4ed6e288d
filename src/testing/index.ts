export { Action, DataAction, LogLevel, MapType, Status, StreamType } from '../abi/constants.js';
export { HeaderMap } from '../abi/header-map.js';
export { decodeInt64 } from '../abi/property-codec.js';
export type { CrashBundle, Outcome } from '../host/crash-bundle.js';
export type { LogEntry } from '../host/host.js';
export {
  FilterHarness,
  type LoadFilterOptions,
  loadFilter,
  type PendingGrpcCall,
  type PendingHttpCall,
} from './harness.js';
export { HttpStreamHarness, type StreamOptions } from './http-stream.js';
export {
  type LoadedBundle,
  loadBundle,
  type ReplayOptions,
  type ReplayResult,
} from './replay.js';
