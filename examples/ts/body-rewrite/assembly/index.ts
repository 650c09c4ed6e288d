// body-rewrite: rewrites text in response bodies. It buffers the whole body (returning
// Action.Pause from onResponseBody until the last chunk), replaces every occurrence of each rule's
// `from` with its `to`, and lets the rewritten body go.
//
//   pluginConfig:
//     rules: [{ from: upstream, to: wasmgate }]
//     contentTypes: [text/, application/json]   # prefixes of the content-types to rewrite (default: all)
//     maxBytes: 1048576                          # larger bodies pass through unchanged

import { Action, Configuration, HttpContext, log, RootContext, registerRootContext, statusName } from '@wasmgate/sdk';

export * from '@wasmgate/sdk/exports';

class RewriteConfig extends RootContext {
  from: Array<string> = [];
  to: Array<string> = [];
  contentTypes: Array<string> = [];
  maxBytes: u32 = 1 << 20;

  onConfigure(config: Configuration): bool {
    const json = config.json();
    const rules = json !== null ? json.getArray('rules') : null;
    if (json === null || rules === null) {
      log.error('body-rewrite: the configuration must be a JSON object with "rules": [{from, to}, ...]');
      return false;
    }
    for (let i = 0; i < rules.length; i++) {
      const rule = rules.at(i)!;
      const from = rule.getString('from');
      const to = rule.getString('to');
      if (from === null || to === null || from.length == 0) {
        log.error('body-rewrite: rules[' + i.toString() + '] needs a non-empty "from" and a "to"');
        return false;
      }
      this.from.push(from);
      this.to.push(to);
    }
    const types = json.getArray('contentTypes');
    if (types !== null) {
      for (let i = 0; i < types.length; i++) {
        const t = types.at(i)!.asString();
        if (t !== null) this.contentTypes.push(t);
      }
    }
    this.maxBytes = <u32>json.getInt('maxBytes', this.maxBytes);
    return true;
  }

  newHttpContext(id: u32): HttpContext {
    return new BodyRewrite(id, this);
  }

  /** Whether responses of this content-type are rewritten. */
  rewrites(contentType: string): bool {
    if (this.contentTypes.length == 0) return true;
    for (let i = 0; i < this.contentTypes.length; i++) {
      if (contentType.startsWith(this.contentTypes[i])) return true;
    }
    return false;
  }
}

class BodyRewrite extends HttpContext {
  rewriting: bool = false;

  constructor(
    id: u32,
    readonly config: RewriteConfig,
  ) {
    super(id, config);
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): Action {
    if (endOfStream) return Action.Continue; // no body
    const type = this.response.headers.get('content-type');
    this.rewriting = this.config.rewrites(type !== null ? type : '');
    // The length changes with the body: the proxy sends the new one (or chunks).
    if (this.rewriting) this.response.headers.remove('content-length');
    return Action.Continue;
  }

  onResponseBody(bodySize: u32, endOfStream: bool): Action {
    if (!this.rewriting) return Action.Continue;
    if (bodySize > this.config.maxBytes) {
      log.warn('body-rewrite: body larger than maxBytes (' + bodySize.toString() + '): passed through unchanged');
      this.rewriting = false;
      return Action.Continue;
    }
    // Keep buffering until the whole body is here.
    if (!endOfStream) return Action.Pause;
    const body = this.response.body.text();
    if (!body.ok) {
      log.error('body-rewrite: cannot read the body: ' + statusName(body.status));
      return Action.Continue;
    }
    let text = body.value;
    const from = this.config.from;
    const to = this.config.to;
    for (let i = 0; i < from.length; i++) text = text.replaceAll(from[i], to[i]);
    if (text != body.value) this.response.body.replaceText(text);
    return Action.Continue;
  }
}

registerRootContext((id: u32): RootContext => new RewriteConfig(id));
