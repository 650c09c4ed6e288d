// @wasmgate/sdk: write Proxy-Wasm filters (ABI 0.2.1) for wasmgate, Envoy and Istio in AssemblyScript.
//
//   import { HttpContext, RootContext, registerRootContext, Action } from '@wasmgate/sdk';
//   export * from '@wasmgate/sdk/exports';   // the ABI callbacks the host calls
//
// See docs/sdk.md for the guide and the API reference.

// The runtime hooks the compiler options point at (--use abort=wasmgate_abort …).
import './runtime';

export {
  Action,
  BufferType,
  GrpcStatus,
  LogLevel,
  MapType,
  MetricType,
  PeerType,
  Result,
  Status,
  StreamType,
  statusName,
} from './types';
export { log, logAt } from './log';
export { Header, HeaderMap } from './headers';
export { Body, getBufferBytes, getBufferText, setBufferBytes } from './buffers';
export {
  BaseContext,
  Configuration,
  HttpContext,
  HttpMessage,
  RootContext,
  RootFactory,
  registerRootContext,
  TcpContext,
} from './context';
export {
  CalloutStatus,
  GrpcCallResult,
  GrpcCallback,
  getStatus,
  grpcCancel,
  grpcClose,
  grpcInitialMetadata,
  grpcSend,
  grpcTrailingMetadata,
  HttpCallResponse,
  HttpCallback,
} from './callouts';
export { SharedQueue, SharedValue, sharedData } from './shared';
export { Counter, Gauge, Histogram, Metric } from './metrics';
export { callForeignFunction, currentTimeNanos, properties } from './properties';
export { Json, JsonType, JsonValue } from './json';
