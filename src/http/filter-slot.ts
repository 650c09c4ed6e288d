// One wasm filter's view of one proxied stream: the HttpStreamDriver its context talks to, mapping each
// ABI request (a header map, a body buffer, continue, a local reply) to the stream's state.

import type { ByteBuffer } from '../abi/byte-buffer.js';
import { BufferType, type MapType, Status, StreamType } from '../abi/constants.js';
import type { HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';
import type { RoutePluginChoice } from '../control/route-plugins.js';
import type { HttpContext } from '../host/context.js';
import { RequestStage, ResponseStage } from '../host/context-stages.js';
import type { HttpStreamDriver, LocalResponse } from '../host/driver.js';
import type { HeadersStatus } from '../host/filter-pipeline.js';
import type { Plugin } from '../host/plugin.js';
import type { Direction } from './filter-chain.js';

/** What a slot needs from its stream. */
export interface SlotHost {
  headerMap(type: MapType, create: boolean): HeaderMap | undefined;
  bodyBuffer(slot: number, direction: Direction): ByteBuffer | undefined;
  localReply(response: LocalResponse, slot: number): void;
  resume(slot: number, direction: Direction): void;
  reset(): void;
  clearRouteCache(): void;
  property(path: readonly string[]): PropertyValue | undefined;
  filterState(create: boolean): Map<string, Uint8Array> | undefined;
  objectFilterState(create: boolean): Map<string, Uint8Array> | undefined;
  /** What the stream's route does with `plugin` (resolved again first if a filter cleared the route). */
  routePluginChoice(plugin: Plugin): RoutePluginChoice | undefined;
}

/**
 * The request stage of a slot: before the filter first hears of the stream, its route chooses the root
 * context that serves it (a route's own configuration), or turns the filter off for the stream. The route is
 * the one as the filters before it left the request: Envoy's filters read their per-route config then too.
 */
class RoutedRequestStage extends RequestStage {
  constructor(
    ctx: HttpContext,
    private readonly slot: FilterSlot,
  ) {
    super(ctx);
  }

  override headers(endOfStream: boolean): HeadersStatus {
    this.slot.bindToRoute();
    return this.ctx.active ? super.headers(endOfStream) : 0;
  }
}

export class FilterSlot implements HttpStreamDriver {
  readonly context: HttpContext;
  readonly requestStage: RequestStage;
  readonly responseStage: ResponseStage;

  constructor(
    readonly plugin: Plugin,
    readonly index: number,
    private readonly stream: SlotHost,
  ) {
    this.context = plugin.newHttpContext(this);
    this.requestStage = new RoutedRequestStage(this.context, this);
    this.responseStage = new ResponseStage(this.context);
  }

  /** Serves the stream from the root context its route chooses, or not at all if the route disables it. */
  bindToRoute(): void {
    const choice = this.stream.routePluginChoice(this.plugin);
    if (choice === undefined) return;
    this.context.rebind(choice === null ? undefined : this.plugin.rootFor(choice));
  }

  headerMap(type: MapType, create: boolean): HeaderMap | undefined {
    return this.stream.headerMap(type, create);
  }

  bodyBuffer(type: BufferType): ByteBuffer | undefined {
    if (type === BufferType.HttpRequestBody) return this.stream.bodyBuffer(this.index, 'request');
    if (type === BufferType.HttpResponseBody) return this.stream.bodyBuffer(this.index, 'response');
    return undefined;
  }

  sendLocalResponse(response: LocalResponse): void {
    this.stream.localReply(response, this.index);
  }

  continueStream(type: StreamType): Status {
    if (type === StreamType.HttpRequest) this.stream.resume(this.index, 'request');
    else if (type === StreamType.HttpResponse) this.stream.resume(this.index, 'response');
    else return Status.BadArgument;
    return Status.Ok;
  }

  closeStream(_type: StreamType): Status {
    this.stream.reset();
    return Status.Ok;
  }

  clearRouteCache(): void {
    this.stream.clearRouteCache();
  }

  property(path: readonly string[]): PropertyValue | undefined {
    return this.stream.property(path);
  }

  filterState(create: boolean): Map<string, Uint8Array> | undefined {
    return this.stream.filterState(create);
  }

  objectFilterState(create: boolean): Map<string, Uint8Array> | undefined {
    return this.stream.objectFilterState(create);
  }
}
