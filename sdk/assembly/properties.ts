// Properties (Envoy's attributes): request.*, response.*, source.*, connection.*, plugin_name …
// A path is a list of segments (['request', 'path']); the host gets them NUL-separated. Strings are
// UTF-8, integers 8-byte little-endian, booleans one byte, maps in the header-map format.

import { deserializeHeaders, Header } from './headers';
import { proxy_call_foreign_function, proxy_get_current_time_nanoseconds, proxy_get_property, proxy_set_property } from './imports';
import { borrow, clearReturns, encodeInto, freeReturned, RET_EXTRA, RET_PTR, RET_SIZE, release, returnedPtr, returnedSize, takeBytes, takeString, utf8Max } from './memory';
import { Result, Status } from './types';

/** Encodes a path as NUL-separated UTF-8 into a scratch block; returns its length (block in pathBuf). */
let pathBuf: usize = 0;
function encodePath(path: Array<string>, extra: usize): usize {
  let max: usize = extra + <usize>path.length;
  for (let i = 0; i < path.length; i++) max += utf8Max(unchecked(path[i]));
  const buf = borrow(max);
  let p = buf;
  for (let i = 0; i < path.length; i++) {
    if (i > 0) {
      store<u8>(p, 0);
      p++;
    }
    p += encodeInto(unchecked(path[i]), p);
  }
  pathBuf = buf;
  return p - buf;
}

/** Calls proxy_get_property; on OK the value is at returnedPtr()/returnedSize(). */
function fetch(path: Array<string>): Status {
  const len = encodePath(path, 0);
  clearReturns();
  const status = <Status>proxy_get_property(pathBuf, len, RET_PTR, RET_SIZE);
  release(pathBuf);
  return status;
}

export namespace properties {
  /** The raw bytes of a property. */
  export function get(path: Array<string>): Result<ArrayBuffer> {
    const status = fetch(path);
    if (status != Status.Ok) return new Result<ArrayBuffer>(status, new ArrayBuffer(0));
    return new Result<ArrayBuffer>(status, takeBytes(returnedPtr(), returnedSize()));
  }

  /** A string property. */
  export function getString(path: Array<string>): Result<string> {
    const status = fetch(path);
    if (status != Status.Ok) return new Result<string>(status, '');
    return new Result<string>(status, takeString(returnedPtr(), returnedSize()));
  }

  /** An integer property (also durations and timestamps, in ns): SERIALIZATION_FAILURE if not 8 bytes. */
  export function getInt(path: Array<string>): Result<i64> {
    const status = fetch(path);
    if (status != Status.Ok) return new Result<i64>(status, 0);
    const ptr = returnedPtr();
    const size = returnedSize();
    const value = size == 8 ? load<i64>(ptr) : 0;
    freeReturned(ptr);
    return new Result<i64>(size == 8 ? Status.Ok : Status.SerializationFailure, value);
  }

  /** A boolean property: SERIALIZATION_FAILURE if not 1 byte. */
  export function getBool(path: Array<string>): Result<bool> {
    const status = fetch(path);
    if (status != Status.Ok) return new Result<bool>(status, false);
    const ptr = returnedPtr();
    const size = returnedSize();
    const value = size == 1 ? load<u8>(ptr) != 0 : false;
    freeReturned(ptr);
    return new Result<bool>(size == 1 ? Status.Ok : Status.SerializationFailure, value);
  }

  /** A map property (e.g. request.headers) as pairs. */
  export function getMap(path: Array<string>): Result<Array<Header>> {
    const status = fetch(path);
    if (status != Status.Ok) return new Result<Array<Header>>(status, new Array<Header>());
    const ptr = returnedPtr();
    const pairs = deserializeHeaders(ptr, returnedSize());
    freeReturned(ptr);
    if (pairs === null) return new Result<Array<Header>>(Status.SerializationFailure, new Array<Header>());
    return new Result<Array<Header>>(Status.Ok, pairs);
  }

  /** Sets a property of this context (readable back by the same path). */
  export function set(path: Array<string>, value: ArrayBuffer): Status {
    const len = encodePath(path, 0);
    const status = <Status>proxy_set_property(pathBuf, len, changetype<usize>(value), <usize>value.byteLength);
    release(pathBuf);
    return status;
  }

  export function setString(path: Array<string>, value: string): Status {
    return set(path, String.UTF8.encode(value));
  }

  // ---- common attributes -----------------------------------------------------------------

  /** plugin_name: the plugin's name (Istio: namespace.name). */
  export function pluginName(): Result<string> {
    return getString(['plugin_name']);
  }
  /** plugin_root_id: the root id. */
  export function pluginRootId(): Result<string> {
    return getString(['plugin_root_id']);
  }
  /** plugin_vm_id: the VM id (the scope of shared data and queues). */
  export function pluginVmId(): Result<string> {
    return getString(['plugin_vm_id']);
  }
  export function routeName(): Result<string> {
    return getString(['route_name']);
  }
  export function clusterName(): Result<string> {
    return getString(['cluster_name']);
  }
  export function nodeId(): Result<string> {
    return getString(['node', 'id']);
  }

  export namespace request {
    export function path(): Result<string> {
      return getString(['request', 'path']);
    }
    /** The path without the query string. */
    export function urlPath(): Result<string> {
      return getString(['request', 'url_path']);
    }
    export function host(): Result<string> {
      return getString(['request', 'host']);
    }
    export function scheme(): Result<string> {
      return getString(['request', 'scheme']);
    }
    export function method(): Result<string> {
      return getString(['request', 'method']);
    }
    export function query(): Result<string> {
      return getString(['request', 'query']);
    }
    export function id(): Result<string> {
      return getString(['request', 'id']);
    }
    export function protocol(): Result<string> {
      return getString(['request', 'protocol']);
    }
    export function userAgent(): Result<string> {
      return getString(['request', 'useragent']);
    }
    export function referer(): Result<string> {
      return getString(['request', 'referer']);
    }
    /** One request header, through the properties (works in any callback of the stream). */
    export function header(name: string): Result<string> {
      return getString(['request', 'headers', name]);
    }
    export function headers(): Result<Array<Header>> {
      return getMap(['request', 'headers']);
    }
    /** Start time, ns since the epoch. */
    export function time(): Result<i64> {
      return getInt(['request', 'time']);
    }
    /** ns since the request started. */
    export function duration(): Result<i64> {
      return getInt(['request', 'duration']);
    }
    export function size(): Result<i64> {
      return getInt(['request', 'size']);
    }
    export function totalSize(): Result<i64> {
      return getInt(['request', 'total_size']);
    }
  }

  export namespace response {
    export function code(): Result<i64> {
      return getInt(['response', 'code']);
    }
    export function codeDetails(): Result<string> {
      return getString(['response', 'code_details']);
    }
    export function flags(): Result<i64> {
      return getInt(['response', 'flags']);
    }
    export function grpcStatus(): Result<i64> {
      return getInt(['response', 'grpc_status']);
    }
    export function size(): Result<i64> {
      return getInt(['response', 'size']);
    }
    export function totalSize(): Result<i64> {
      return getInt(['response', 'total_size']);
    }
    export function headers(): Result<Array<Header>> {
      return getMap(['response', 'headers']);
    }
  }

  export namespace source {
    /** The client's address, with its port (`10.1.2.3:5555`). */
    export function address(): Result<string> {
      return getString(['source', 'address']);
    }
    export function port(): Result<i64> {
      return getInt(['source', 'port']);
    }
  }

  export namespace destination {
    export function address(): Result<string> {
      return getString(['destination', 'address']);
    }
    export function port(): Result<i64> {
      return getInt(['destination', 'port']);
    }
  }

  export namespace upstream {
    export function address(): Result<string> {
      return getString(['upstream', 'address']);
    }
    export function port(): Result<i64> {
      return getInt(['upstream', 'port']);
    }
  }

  export namespace connection {
    export function id(): Result<i64> {
      return getInt(['connection', 'id']);
    }
    export function mtls(): Result<bool> {
      return getBool(['connection', 'mtls']);
    }
    export function requestedServerName(): Result<string> {
      return getString(['connection', 'requested_server_name']);
    }
    export function tlsVersion(): Result<string> {
      return getString(['connection', 'tls_version']);
    }
  }
}

/** The host's wall clock in ns since the epoch (hosts may freeze it during a callback). */
export function currentTimeNanos(): u64 {
  store<u64>(RET_EXTRA, 0);
  proxy_get_current_time_nanoseconds(RET_EXTRA);
  return load<u64>(RET_EXTRA);
}

/** Calls the host's foreign function `name` (wasmgate has `compress` and `uncompress` built in). */
export function callForeignFunction(name: string, args: ArrayBuffer): Result<ArrayBuffer> {
  const buf = borrow(utf8Max(name));
  const len = encodeInto(name, buf);
  clearReturns();
  const status = <Status>(
    proxy_call_foreign_function(buf, len, changetype<usize>(args), <usize>args.byteLength, RET_PTR, RET_SIZE)
  );
  release(buf);
  if (status != Status.Ok) return new Result<ArrayBuffer>(status, new ArrayBuffer(0));
  return new Result<ArrayBuffer>(status, takeBytes(returnedPtr(), returnedSize()));
}
