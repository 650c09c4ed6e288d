// The stream a replay drives: before each recorded callback its header map or body is set to what the
// callback was given when recorded; what the filter does to the stream (local replies, continues) is kept
// for the result. Stream properties are not served here: proxy_get_property is answered from the bundle.

import { ByteBuffer } from '../abi/byte-buffer.js';
import { type BufferType, type MapType, Status, type StreamType } from '../abi/constants.js';
import { HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';
import type { HttpStreamDriver, LocalResponse } from '../host/driver.js';

export class ReplayStream implements HttpStreamDriver {
  private readonly maps = new Map<MapType, HeaderMap>();
  private readonly bodies = new Map<BufferType, ByteBuffer>();
  private state: Map<string, Uint8Array> | undefined;
  /** The local reply the filter sent, if any. */
  localReply: LocalResponse | undefined;

  setHeaders(type: MapType, pairs: Array<[string, string]>): void {
    this.maps.set(type, HeaderMap.from(pairs));
  }

  setBody(type: BufferType, bytes: Uint8Array): void {
    this.bodies.set(type, new ByteBuffer(bytes));
  }

  headerMap(type: MapType, create: boolean): HeaderMap | undefined {
    let m = this.maps.get(type);
    if (!m && create) {
      m = new HeaderMap();
      this.maps.set(type, m);
    }
    return m;
  }

  bodyBuffer(type: BufferType): ByteBuffer | undefined {
    return this.bodies.get(type);
  }

  sendLocalResponse(response: LocalResponse): void {
    this.localReply ??= response;
  }

  continueStream(_type: StreamType): Status {
    return Status.Ok;
  }

  closeStream(_type: StreamType): Status {
    return Status.Ok;
  }

  clearRouteCache(): void {}

  property(_path: readonly string[]): PropertyValue | undefined {
    return undefined;
  }

  filterState(create: boolean): Map<string, Uint8Array> | undefined {
    if (create) this.state ??= new Map();
    return this.state;
  }
}
