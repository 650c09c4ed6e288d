// request-auth: asks an auth service about every request before letting it through.
//
// For each request it sends `GET <path>` to the cluster `cluster` with the request's
// `authorization` header (and the headers listed in `forward`), and pauses the request. A 2xx answer
// lets the request go on, with the auth service's `x-auth-user` header (and those listed in
// `copy`) added; anything else — another status, a timeout, an unknown cluster — answers 403.
//
//   pluginConfig: { cluster: auth, path: /check, timeoutMs: 500 }

import {
  Action,
  BaseContext,
  Configuration,
  Header,
  HttpCallResponse,
  HttpContext,
  JsonValue,
  log,
  RootContext,
  registerRootContext,
  statusName,
} from '@wasmgate/sdk';

export * from '@wasmgate/sdk/exports';

class AuthConfig extends RootContext {
  cluster: string = '';
  path: string = '/auth';
  authority: string = '';
  timeoutMs: u32 = 1000;
  forward: Array<string> = ['authorization'];
  copy: Array<string> = ['x-auth-user'];

  onConfigure(config: Configuration): bool {
    const json = config.json();
    const cluster: string | null = json !== null ? json.getString('cluster') : null;
    if (json === null || cluster === null || cluster.length == 0) {
      log.error('request-auth: the configuration must be a JSON object with "cluster" (the auth service)');
      return false;
    }
    this.cluster = cluster;
    this.path = json.getString('path', this.path)!;
    this.authority = json.getString('authority', cluster)!;
    this.timeoutMs = <u32>json.getInt('timeoutMs', this.timeoutMs);
    const forward = stringList(json, 'forward');
    if (forward !== null) this.forward = forward;
    const copy = stringList(json, 'copy');
    if (copy !== null) this.copy = copy;
    return true;
  }

  newHttpContext(id: u32): HttpContext {
    return new RequestAuth(id, this);
  }
}

/** A list of strings from the configuration, lower-cased, or null when absent. */
function stringList(json: JsonValue, key: string): Array<string> | null {
  const list = json.getArray(key);
  if (list === null) return null;
  const out = new Array<string>();
  for (let i = 0; i < list.length; i++) {
    const s = list.at(i)!.asString();
    if (s !== null) out.push(s);
  }
  return out;
}

class RequestAuth extends HttpContext {
  /** True from the auth call until its answer. */
  waiting: bool = false;

  constructor(
    id: u32,
    readonly config: AuthConfig,
  ) {
    super(id, config);
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const c = this.config;
    const path = this.request.headers.get(':path');
    const method = this.request.headers.get(':method');
    const headers: Array<Header> = [
      new Header(':method', 'GET'),
      new Header(':path', c.path),
      new Header(':authority', c.authority),
      new Header('x-original-path', path !== null ? path : ''),
      new Header('x-original-method', method !== null ? method : ''),
    ];
    for (let i = 0; i < c.forward.length; i++) {
      const v = this.request.headers.get(c.forward[i]);
      if (v !== null) headers.push(new Header(c.forward[i], v));
    }
    const call = this.httpCall(c.cluster, headers, '', c.timeoutMs, onAuthResponse);
    if (!call.ok) {
      log.error('request-auth: cannot call cluster ' + c.cluster + ': ' + statusName(call.status));
      this.deny('request_auth_dispatch_failed');
    } else this.waiting = true;
    // Wait for the answer (or the local reply just sent).
    return Action.Pause;
  }

  // In Envoy, Continue from a body callback would resume the paused headers too: hold the body
  // back (buffered) until the auth service has answered.
  onRequestBody(bodySize: u32, endOfStream: bool): Action {
    return this.waiting ? Action.Pause : Action.Continue;
  }

  deny(details: string): void {
    this.sendLocalResponse(403, 'access denied\n', [new Header('content-type', 'text/plain')], details);
  }
}

/** The auth service answered (or the call failed): let the request go on, or deny it. */
function onAuthResponse(ctx: BaseContext, response: HttpCallResponse): void {
  const filter = ctx as RequestAuth;
  filter.waiting = false;
  if (response.failed) {
    log.warn('request-auth: the auth call failed (timeout or reset)');
    filter.deny('request_auth_unavailable');
    return;
  }
  const status = response.status;
  if (status < 200 || status >= 300) {
    log.info('request-auth: denied with ' + status.toString());
    filter.deny('request_auth_denied');
    return;
  }
  const copy = filter.config.copy;
  for (let i = 0; i < copy.length; i++) {
    const v = response.header(copy[i]);
    if (v !== null) filter.request.headers.set(copy[i], v);
  }
  filter.continueRequest();
}

registerRootContext((id: u32): RootContext => new AuthConfig(id));
