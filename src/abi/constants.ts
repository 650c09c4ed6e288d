// Numeric values of the Proxy-Wasm ABI (proxy-wasm/spec, abi-versions/v0.2.1), shared by 0.1.0 and 0.2.x.

export const Status = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  InternalFailure: 10,
  BrokenConnection: 11,
  Unimplemented: 12,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

/** What a stream callback returns. Envoy passes the raw value through to its filter statuses. */
export const Action = {
  Continue: 0,
  Pause: 1,
  // Envoy-specific header statuses some SDKs expose (FilterHeadersStatus values).
  ContinueAndEndStream: 2,
  StopAllIterationAndBuffer: 3,
  StopAllIterationAndWatermark: 4,
} as const;
export type Action = number;

/** Body callbacks: Envoy's FilterDataStatus values. */
export const DataAction = {
  Continue: 0,
  StopIterationAndBuffer: 1,
  StopIterationAndWatermark: 2,
  StopIterationNoBuffer: 3,
} as const;

export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  DownstreamData: 2,
  UpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcCallMessage: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  ForeignFunctionArguments: 8,
} as const;
export type BufferType = (typeof BufferType)[keyof typeof BufferType];
export const BUFFER_TYPE_MAX = 8;

export const MapType = {
  HttpRequestHeaders: 0,
  HttpRequestTrailers: 1,
  HttpResponseHeaders: 2,
  HttpResponseTrailers: 3,
  GrpcCallInitialMetadata: 4,
  GrpcCallTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const;
export type MapType = (typeof MapType)[keyof typeof MapType];
export const MAP_TYPE_MAX = 7;

export const StreamType = {
  HttpRequest: 0,
  HttpResponse: 1,
  Downstream: 2,
  Upstream: 3,
} as const;
export type StreamType = (typeof StreamType)[keyof typeof StreamType];

export const MetricType = {
  Counter: 0,
  Gauge: 1,
  Histogram: 2,
} as const;
export type MetricType = (typeof MetricType)[keyof typeof MetricType];

export const LogLevel = {
  Trace: 0,
  Debug: 1,
  Info: 2,
  Warn: 3,
  Error: 4,
  Critical: 5,
} as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];
export const LOG_LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error', 'critical'] as const;
export type LogLevelName = (typeof LOG_LEVEL_NAMES)[number];

export const PeerType = {
  Unknown: 0,
  Local: 1,
  Remote: 2,
} as const;

/** WASI preview1 errno values the host returns. */
export const WasiErrno = {
  Success: 0,
  Badf: 8,
  Fault: 21,
  Inval: 28,
  Nosys: 52,
  Notsup: 58,
  Spipe: 70,
  Notcapable: 76,
} as const;

export const AbiVersion = {
  V0_1_0: '0.1.0',
  V0_2_0: '0.2.0',
  V0_2_1: '0.2.1',
} as const;
export type AbiVersion = (typeof AbiVersion)[keyof typeof AbiVersion];

/** ABI marker exports, newest first: a module exporting several is run with the newest. */
export const ABI_MARKERS: ReadonlyArray<[string, AbiVersion]> = [
  ['proxy_abi_version_0_2_1', AbiVersion.V0_2_1],
  ['proxy_abi_version_0_2_0', AbiVersion.V0_2_0],
  ['proxy_abi_version_0_1_0', AbiVersion.V0_1_0],
];

/** grpc_status argument of proxy_send_local_response meaning "none". */
export const NO_GRPC_STATUS = 0xffffffff;

/** The ABI's status names as the spec (and Envoy's logs) write them, every code it defines. */
const STATUS_NAMES: Record<number, string> = {
  0: 'OK',
  1: 'NOT_FOUND',
  2: 'BAD_ARGUMENT',
  3: 'SERIALIZATION_FAILURE',
  4: 'PARSE_FAILURE',
  5: 'BAD_EXPRESSION',
  6: 'INVALID_MEMORY_ACCESS',
  7: 'EMPTY',
  8: 'CAS_MISMATCH',
  9: 'RESULT_MISMATCH',
  10: 'INTERNAL_FAILURE',
  11: 'BROKEN_CONNECTION',
  12: 'UNIMPLEMENTED',
};

/** `NOT_FOUND` for 1; a code the ABI does not define as its number. */
export function statusName(status: number): string {
  return STATUS_NAMES[status] ?? String(status);
}
