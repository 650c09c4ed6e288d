// add-header: adds the headers its configuration names to every request and/or response.
//
//   pluginConfig: { request: { x-via: wasmgate }, response: { x-hello: from wasmgate } }
//
// A configuration that is not such an object refuses the plugin (onConfigure returns false).

import { Action, Configuration, Header, HttpContext, Json, JsonValue, log, RootContext, registerRootContext } from '@wasmgate/sdk';

// The ABI callbacks (proxy_on_*) the host calls.
export * from '@wasmgate/sdk/exports';

class AddHeaderRoot extends RootContext {
  requestHeaders: Array<Header> = [];
  responseHeaders: Array<Header> = [];

  onConfigure(config: Configuration): bool {
    const json = config.json();
    if (json === null || !json.isObject) {
      log.error('add-header: the configuration must be a JSON object (' + (json === null ? Json.lastError : 'got another JSON value') + ')');
      return false;
    }
    const request = headersFrom(json, 'request');
    const response = headersFrom(json, 'response');
    if (request === null || response === null) return false;
    this.requestHeaders = request;
    this.responseHeaders = response;
    log.info('add-header: ' + request.length.toString() + ' request and ' + response.length.toString() + ' response header(s)');
    return true;
  }

  newHttpContext(id: u32): HttpContext {
    return new AddHeader(id, this);
  }
}

/** The pairs of object `key` of the configuration ([] when absent), or null (logged) when malformed. */
function headersFrom(config: JsonValue, key: string): Array<Header> | null {
  const out = new Array<Header>();
  const value = config.get(key);
  if (value === null) return out;
  if (!value.isObject) {
    log.error('add-header: "' + key + '" must be an object of header names to values');
    return null;
  }
  for (let i = 0; i < value.length; i++) {
    const v = value.valueAt(i)!.asString();
    if (v === null) {
      log.error('add-header: the value of ' + key + '.' + value.keyAt(i) + ' must be a string');
      return null;
    }
    out.push(new Header(value.keyAt(i), v));
  }
  return out;
}

class AddHeader extends HttpContext {
  constructor(
    id: u32,
    readonly config: AddHeaderRoot,
  ) {
    super(id, config);
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const headers = this.config.requestHeaders;
    for (let i = 0; i < headers.length; i++) this.request.headers.set(headers[i].name, headers[i].value);
    return Action.Continue;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): Action {
    const headers = this.config.responseHeaders;
    for (let i = 0; i < headers.length; i++) this.response.headers.set(headers[i].name, headers[i].value);
    return Action.Continue;
  }
}

registerRootContext((id: u32): RootContext => new AddHeaderRoot(id));
