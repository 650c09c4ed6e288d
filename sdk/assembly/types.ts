// The ABI's enumerations (spec "Types") and the typed result every fallible call returns.

/** proxy_status_t: what a host function returned. */
export enum Status {
  Ok = 0,
  NotFound = 1,
  BadArgument = 2,
  SerializationFailure = 3,
  ParseFailure = 4,
  InvalidMemoryAccess = 6,
  Empty = 7,
  CasMismatch = 8,
  InternalFailure = 10,
  Unimplemented = 12,
}

/** The name of a status, for log lines: `NOT_FOUND`, `CAS_MISMATCH` … */
export function statusName(status: Status): string {
  switch (status) {
    case Status.Ok:
      return 'OK';
    case Status.NotFound:
      return 'NOT_FOUND';
    case Status.BadArgument:
      return 'BAD_ARGUMENT';
    case Status.SerializationFailure:
      return 'SERIALIZATION_FAILURE';
    case Status.ParseFailure:
      return 'PARSE_FAILURE';
    case Status.InvalidMemoryAccess:
      return 'INVALID_MEMORY_ACCESS';
    case Status.Empty:
      return 'EMPTY';
    case Status.CasMismatch:
      return 'CAS_MISMATCH';
    case Status.InternalFailure:
      return 'INTERNAL_FAILURE';
    case Status.Unimplemented:
      return 'UNIMPLEMENTED';
  }
  return 'STATUS_' + (<u32>status).toString();
}

/** proxy_log_level_t */
export enum LogLevel {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
  Critical = 5,
}

/**
 * proxy_action_t: what a stream callback returns. Envoy also understands the values of its filter
 * statuses, which you may return with a cast (e.g. `<Action>3`, StopIterationNoBuffer, from a body
 * callback); Continue and Pause are all ABI 0.2.1 defines.
 */
export enum Action {
  /** Let this direction go on: headers, body or trailers are forwarded. */
  Continue = 0,
  /**
   * Stop this direction. From a headers or trailers callback it waits for `continueRequest()` /
   * `continueResponse()`; from a body callback the chunk stays buffered and the next callback sees
   * the whole body so far (Envoy's StopIterationAndBuffer).
   */
  Pause = 1,
}

/** proxy_buffer_type_t */
export enum BufferType {
  HttpRequestBody = 0,
  HttpResponseBody = 1,
  DownstreamData = 2,
  UpstreamData = 3,
  HttpCallResponseBody = 4,
  GrpcCallMessage = 5,
  VmConfiguration = 6,
  PluginConfiguration = 7,
  ForeignFunctionArguments = 8,
}

/** proxy_map_type_t */
export enum MapType {
  HttpRequestHeaders = 0,
  HttpRequestTrailers = 1,
  HttpResponseHeaders = 2,
  HttpResponseTrailers = 3,
  GrpcCallInitialMetadata = 4,
  GrpcCallTrailingMetadata = 5,
  HttpCallResponseHeaders = 6,
  HttpCallResponseTrailers = 7,
}

/** proxy_stream_type_t */
export enum StreamType {
  HttpRequest = 0,
  HttpResponse = 1,
  Downstream = 2,
  Upstream = 3,
}

/** proxy_peer_type_t: who closed a TCP connection. */
export enum PeerType {
  Unknown = 0,
  Local = 1,
  Remote = 2,
}

/** proxy_metric_type_t */
export enum MetricType {
  Counter = 0,
  Gauge = 1,
  Histogram = 2,
}

/** gRPC status codes, for local responses (`grpcStatus`) and gRPC callouts. */
export enum GrpcStatus {
  Ok = 0,
  Cancelled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
}

/**
 * The outcome of a host call that returns a value: `status` says whether it worked, `value` holds
 * the result when it did (and an empty value — 0, '', an empty buffer or list — when it did not).
 */
export class Result<T> {
  constructor(
    public readonly status: Status,
    public readonly value: T,
  ) {}

  /** True when the host answered OK. */
  get ok(): bool {
    return this.status == Status.Ok;
  }

  /** The value; aborts (logged at critical, then a trap) when the call failed. */
  unwrap(): T {
    if (this.status != Status.Ok) throw new Error('unwrap of a failed result: ' + statusName(this.status));
    return this.value;
  }

  /** The value, or `fallback` when the call failed. */
  unwrapOr(fallback: T): T {
    return this.status == Status.Ok ? this.value : fallback;
  }
}
