// tick-queue: a background root context that drains a shared queue, and an HTTP filter that feeds it.
//
// One module, two root ids, one VM (the same vm_id):
//   - root id "collector": registers the queue "request-events", counts what arrives (onQueueReady)
//     and every tick publishes a JSON summary to shared data "tick-queue/summary";
//   - any other root id: the HTTP filter. It enqueues "<method> <path>" for each request, and answers
//     GET <statsPath> (default /_stats) itself with the last summary.
//
//   collector pluginConfig: { tickMs: 1000 }
//   filter pluginConfig:    { statsPath: /_stats }

import {
  Action,
  Configuration,
  Header,
  HttpContext,
  Json,
  JsonValue,
  log,
  properties,
  RootContext,
  registerRootContext,
  SharedQueue,
  Status,
  sharedData,
  statusName,
} from '@wasmgate/sdk';

export * from '@wasmgate/sdk/exports';

const QUEUE = 'request-events';
const SUMMARY = 'tick-queue/summary';

/** The background context: no HTTP streams, just the queue and the timer. */
class Collector extends RootContext {
  queue: SharedQueue | null = null;
  total: u64 = 0;
  ticks: u64 = 0;
  paths: Map<string, u64> = new Map<string, u64>();
  pathOrder: Array<string> = [];

  onConfigure(config: Configuration): bool {
    let tickMs: i64 = 1000;
    if (!config.isEmpty) {
      const json = config.json();
      if (json === null) {
        log.error('tick-queue: bad configuration: ' + Json.lastError);
        return false;
      }
      tickMs = json.getInt('tickMs', tickMs);
    }
    const q = SharedQueue.register(QUEUE);
    if (!q.ok) {
      log.error('tick-queue: cannot register the queue: ' + statusName(q.status));
      return false;
    }
    this.queue = q.value;
    this.publish();
    return this.setTickPeriod(<u32>tickMs) == Status.Ok;
  }

  onQueueReady(queueId: u32): void {
    const q = this.queue!;
    while (true) {
      const item = q.dequeueText();
      if (!item.ok) break; // EMPTY
      this.total++;
      const space = item.value.indexOf(' ');
      const path = space >= 0 ? item.value.substring(space + 1) : item.value;
      if (this.paths.has(path)) this.paths.set(path, this.paths.get(path) + 1);
      else {
        this.paths.set(path, 1);
        this.pathOrder.push(path);
      }
    }
  }

  onTick(): void {
    this.ticks++;
    this.publish();
    log.debug('tick-queue: ' + this.total.toString() + ' request(s) after ' + this.ticks.toString() + ' tick(s)');
  }

  publish(): void {
    const paths = JsonValue.object();
    for (let i = 0; i < this.pathOrder.length; i++) {
      const p = this.pathOrder[i];
      paths.set(p, JsonValue.number(<f64>this.paths.get(p)));
    }
    const summary = JsonValue.object()
      .set('total', JsonValue.number(<f64>this.total))
      .set('ticks', JsonValue.number(<f64>this.ticks))
      .set('paths', paths);
    sharedData.setText(SUMMARY, summary.stringify());
  }
}

/** The HTTP side: feeds the queue. */
class Feeder extends RootContext {
  statsPath: string = '/_stats';
  queue: SharedQueue | null = null;

  onConfigure(config: Configuration): bool {
    if (config.isEmpty) return true;
    const json = config.json();
    if (json === null) {
      log.error('tick-queue: bad configuration: ' + Json.lastError);
      return false;
    }
    this.statsPath = json.getString('statsPath', this.statsPath)!;
    return true;
  }

  /** The collector's queue (it may start after us: resolved on first use). */
  resolveQueue(): SharedQueue | null {
    if (this.queue === null) {
      const q = SharedQueue.resolve(properties.pluginVmId().unwrapOr(''), QUEUE);
      if (q.ok) this.queue = q.value;
    }
    return this.queue;
  }

  newHttpContext(id: u32): HttpContext {
    return new FeedRequests(id, this);
  }
}

class FeedRequests extends HttpContext {
  constructor(
    id: u32,
    readonly feeder: Feeder,
  ) {
    super(id, feeder);
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const path = this.request.headers.get(':path');
    const method = this.request.headers.get(':method');
    if (path !== null && path == this.feeder.statsPath) {
      const summary = sharedData.get(SUMMARY);
      this.sendLocalResponse(
        200,
        summary.ok ? summary.text : '{}',
        [new Header('content-type', 'application/json')],
        'tick_queue_stats',
      );
      return Action.Pause;
    }
    const queue = this.feeder.resolveQueue();
    if (queue === null) {
      log.warn('tick-queue: no collector queue yet (is the "collector" root running in this VM id?)');
      return Action.Continue;
    }
    queue.enqueueText((method !== null ? method : '-') + ' ' + (path !== null ? path : '-'));
    return Action.Continue;
  }
}

registerRootContext((id: u32): RootContext => new Collector(id), 'collector');
registerRootContext((id: u32): RootContext => new Feeder(id));
