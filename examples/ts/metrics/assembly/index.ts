// metrics: counts requests and responses and measures response sizes and durations with metrics
// of its own names:
//
//   <prefix>_requests_total           counter    every request
//   <prefix>_responses_<N>xx_total    counter    responses by status class (1xx … 5xx)
//   <prefix>_active_requests          gauge      requests in flight
//   <prefix>_response_bytes           histogram  response body size
//   <prefix>_request_duration_ms      histogram  from the request to the end of the response
//
//   pluginConfig: { prefix: shop }    # default: wasmgate_example

import { Action, Configuration, Counter, Gauge, Histogram, HttpContext, log, properties, RootContext, registerRootContext } from '@wasmgate/sdk';

export * from '@wasmgate/sdk/exports';

class MetricsRoot extends RootContext {
  requests: Counter | null = null;
  active: Gauge | null = null;
  responseBytes: Histogram | null = null;
  duration: Histogram | null = null;
  byClass: Array<Counter> = [];

  onConfigure(config: Configuration): bool {
    let prefix = 'wasmgate_example';
    if (!config.isEmpty) {
      const json = config.json();
      const p = json !== null ? json.getString('prefix') : null;
      if (p === null || p.length == 0) {
        log.error('metrics: the configuration must be a JSON object with a non-empty "prefix"');
        return false;
      }
      prefix = p;
    }
    const requests = new Counter(prefix + '_requests_total');
    if (!requests.ok) {
      log.error('metrics: cannot define ' + requests.name);
      return false;
    }
    this.requests = requests;
    this.active = new Gauge(prefix + '_active_requests');
    this.responseBytes = new Histogram(prefix + '_response_bytes');
    this.duration = new Histogram(prefix + '_request_duration_ms');
    for (let c = 1; c <= 5; c++) this.byClass.push(new Counter(prefix + '_responses_' + c.toString() + 'xx_total'));
    return true;
  }

  newHttpContext(id: u32): HttpContext {
    return new RequestMetrics(id, this);
  }
}

class RequestMetrics extends HttpContext {
  counted: bool = false;
  bodyBytes: u64 = 0;

  constructor(
    id: u32,
    readonly m: MetricsRoot,
  ) {
    super(id, m);
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    this.m.requests!.increment();
    this.m.active!.add(1);
    this.counted = true;
    return Action.Continue;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): Action {
    const status = this.response.headers.get(':status');
    if (status !== null && status.length == 3) {
      const c = <i32>status.charCodeAt(0) - 0x30;
      if (c >= 1 && c <= 5) this.m.byClass[c - 1].increment();
    }
    return Action.Continue;
  }

  onResponseBody(bodySize: u32, endOfStream: bool): Action {
    // Each chunk is forwarded (Continue), so bodySize is the size of this chunk.
    this.bodyBytes += bodySize;
    return Action.Continue;
  }

  onLog(): void {
    if (!this.counted) return;
    this.m.active!.add(-1);
    this.m.responseBytes!.record(this.bodyBytes);
    const d = properties.request.duration();
    if (d.ok) this.m.duration!.record(<u64>(d.value / 1000000));
  }
}

registerRootContext((id: u32): RootContext => new MetricsRoot(id));
