// The Proxy-Wasm ABI 0.2.1 host functions, imported from "env" (see the spec's "Functions exposed by
// the host"). Every function returns a proxy_status_t; results come back through out-pointers.
// Only the functions a filter actually calls end up as imports of the compiled module.

// ---- logging, clocks, timers -------------------------------------------------

// @ts-ignore: decorator
@external("env", "proxy_log")
export declare function proxy_log(level: u32, messageData: usize, messageSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_log_level")
export declare function proxy_get_log_level(returnLevel: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_current_time_nanoseconds")
export declare function proxy_get_current_time_nanoseconds(returnTime: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_tick_period_milliseconds")
export declare function proxy_set_tick_period_milliseconds(periodMs: u32): u32;

// ---- context lifecycle ---------------------------------------------------------

// @ts-ignore: decorator
@external("env", "proxy_set_effective_context")
export declare function proxy_set_effective_context(contextId: u32): u32;
// @ts-ignore: decorator
@external("env", "proxy_done")
export declare function proxy_done(): u32;

// ---- buffers -------------------------------------------------------------------

// @ts-ignore: decorator
@external("env", "proxy_get_buffer_bytes")
export declare function proxy_get_buffer_bytes(
  bufferType: u32,
  start: u32,
  maxSize: u32,
  returnData: usize,
  returnSize: usize,
): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_buffer_bytes")
export declare function proxy_set_buffer_bytes(
  bufferType: u32,
  start: u32,
  size: u32,
  data: usize,
  dataSize: usize,
): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_buffer_status")
export declare function proxy_get_buffer_status(bufferType: u32, returnSize: usize, returnFlags: usize): u32;

// ---- header maps -----------------------------------------------------------------

// @ts-ignore: decorator
@external("env", "proxy_get_header_map_pairs")
export declare function proxy_get_header_map_pairs(mapType: u32, returnData: usize, returnSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_header_map_pairs")
export declare function proxy_set_header_map_pairs(mapType: u32, data: usize, size: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_header_map_value")
export declare function proxy_get_header_map_value(
  mapType: u32,
  keyData: usize,
  keySize: usize,
  returnData: usize,
  returnSize: usize,
): u32;
// @ts-ignore: decorator
@external("env", "proxy_add_header_map_value")
export declare function proxy_add_header_map_value(
  mapType: u32,
  keyData: usize,
  keySize: usize,
  valueData: usize,
  valueSize: usize,
): u32;
// @ts-ignore: decorator
@external("env", "proxy_replace_header_map_value")
export declare function proxy_replace_header_map_value(
  mapType: u32,
  keyData: usize,
  keySize: usize,
  valueData: usize,
  valueSize: usize,
): u32;
// @ts-ignore: decorator
@external("env", "proxy_remove_header_map_value")
export declare function proxy_remove_header_map_value(mapType: u32, keyData: usize, keySize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_header_map_size")
export declare function proxy_get_header_map_size(mapType: u32, returnSize: usize): u32;

// ---- streams -----------------------------------------------------------------------

// @ts-ignore: decorator
@external("env", "proxy_continue_stream")
export declare function proxy_continue_stream(streamType: u32): u32;
// @ts-ignore: decorator
@external("env", "proxy_close_stream")
export declare function proxy_close_stream(streamType: u32): u32;
// @ts-ignore: decorator
@external("env", "proxy_send_local_response")
export declare function proxy_send_local_response(
  statusCode: u32,
  detailsData: usize,
  detailsSize: usize,
  bodyData: usize,
  bodySize: usize,
  headersData: usize,
  headersSize: usize,
  grpcStatus: i32,
): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_status")
export declare function proxy_get_status(returnCode: usize, returnMessageData: usize, returnMessageSize: usize): u32;

// ---- HTTP and gRPC callouts -----------------------------------------------------------

// @ts-ignore: decorator
@external("env", "proxy_http_call")
export declare function proxy_http_call(
  upstreamData: usize,
  upstreamSize: usize,
  headersData: usize,
  headersSize: usize,
  bodyData: usize,
  bodySize: usize,
  trailersData: usize,
  trailersSize: usize,
  timeoutMs: u32,
  returnToken: usize,
): u32;
// @ts-ignore: decorator
@external("env", "proxy_grpc_call")
export declare function proxy_grpc_call(
  upstreamData: usize,
  upstreamSize: usize,
  serviceData: usize,
  serviceSize: usize,
  methodData: usize,
  methodSize: usize,
  metadataData: usize,
  metadataSize: usize,
  messageData: usize,
  messageSize: usize,
  timeoutMs: u32,
  returnToken: usize,
): u32;
// @ts-ignore: decorator
@external("env", "proxy_grpc_stream")
export declare function proxy_grpc_stream(
  upstreamData: usize,
  upstreamSize: usize,
  serviceData: usize,
  serviceSize: usize,
  methodData: usize,
  methodSize: usize,
  metadataData: usize,
  metadataSize: usize,
  returnToken: usize,
): u32;
// @ts-ignore: decorator
@external("env", "proxy_grpc_send")
export declare function proxy_grpc_send(token: u32, messageData: usize, messageSize: usize, endStream: u32): u32;
// @ts-ignore: decorator
@external("env", "proxy_grpc_cancel")
export declare function proxy_grpc_cancel(token: u32): u32;
// @ts-ignore: decorator
@external("env", "proxy_grpc_close")
export declare function proxy_grpc_close(token: u32): u32;

// ---- shared data and queues ------------------------------------------------------------

// @ts-ignore: decorator
@external("env", "proxy_get_shared_data")
export declare function proxy_get_shared_data(
  keyData: usize,
  keySize: usize,
  returnData: usize,
  returnSize: usize,
  returnCas: usize,
): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_shared_data")
export declare function proxy_set_shared_data(
  keyData: usize,
  keySize: usize,
  valueData: usize,
  valueSize: usize,
  cas: u32,
): u32;
// @ts-ignore: decorator
@external("env", "proxy_register_shared_queue")
export declare function proxy_register_shared_queue(nameData: usize, nameSize: usize, returnId: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_resolve_shared_queue")
export declare function proxy_resolve_shared_queue(
  vmIdData: usize,
  vmIdSize: usize,
  nameData: usize,
  nameSize: usize,
  returnId: usize,
): u32;
// @ts-ignore: decorator
@external("env", "proxy_enqueue_shared_queue")
export declare function proxy_enqueue_shared_queue(queueId: u32, data: usize, size: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_dequeue_shared_queue")
export declare function proxy_dequeue_shared_queue(queueId: u32, returnData: usize, returnSize: usize): u32;

// ---- metrics -----------------------------------------------------------------------------

// @ts-ignore: decorator
@external("env", "proxy_define_metric")
export declare function proxy_define_metric(metricType: u32, nameData: usize, nameSize: usize, returnId: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_increment_metric")
export declare function proxy_increment_metric(metricId: u32, delta: i64): u32;
// @ts-ignore: decorator
@external("env", "proxy_record_metric")
export declare function proxy_record_metric(metricId: u32, value: u64): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_metric")
export declare function proxy_get_metric(metricId: u32, returnValue: usize): u32;

// ---- properties and foreign functions -------------------------------------------------------

// @ts-ignore: decorator
@external("env", "proxy_get_property")
export declare function proxy_get_property(pathData: usize, pathSize: usize, returnData: usize, returnSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_set_property")
export declare function proxy_set_property(pathData: usize, pathSize: usize, valueData: usize, valueSize: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_call_foreign_function")
export declare function proxy_call_foreign_function(
  nameData: usize,
  nameSize: usize,
  argsData: usize,
  argsSize: usize,
  returnData: usize,
  returnSize: usize,
): u32;
