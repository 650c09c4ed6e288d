// Secrets kept out of crash bundles: the values of listed headers (in header maps, in the header-map
// hostcalls, in the request.headers.* / response.headers.* properties) are replaced by "[redacted]"
// before anything is recorded, so a bundle never holds them, not even in memory. A value redacted once is
// also scrubbed from every later string argument (a filter that logs the authorization header, say).

import { decodePairs, encodePairs } from '../abi/header-map.js';
import { encodeUtf8 } from '../abi/utf8.js';
import { REDACTED } from './recording.js';
import type { ArgValue } from './trace.js';

const HEADER_VALUE_CALLS = new Set([
  'proxy_get_header_map_value',
  'proxy_add_header_map_value',
  'proxy_replace_header_map_value',
]);

const REDACTED_BYTES = encodeUtf8(REDACTED);
const text = new TextDecoder();

/** Secret values remembered for scrubbing, at most (the oldest are forgotten first). */
const MAX_SECRETS = 64;
/** Shorter values are not scrubbed from other strings (they would match everywhere). */
const MIN_SECRET_LENGTH = 4;

export class Redactor {
  /** Lower-case header names whose values are redacted. */
  readonly names: ReadonlySet<string>;

  constructor(names: Iterable<string>) {
    this.names = new Set([...names].map((n) => n.toLowerCase()));
  }

  /** Values redacted so far: scrubbed from later strings. */
  private readonly secrets: string[] = [];

  hides(name: string): boolean {
    return this.names.has(name.toLowerCase());
  }

  pairs(pairs: ReadonlyArray<readonly [string, string]>): Array<[string, string]> {
    return pairs.map(([k, v]) => [k, this.hides(k) ? this.secret(v) : v]);
  }

  /** Remembers a redacted value; returns what stands for it. */
  private secret(value: string): string {
    if (value.length >= MIN_SECRET_LENGTH && value !== REDACTED && !this.secrets.includes(value)) {
      if (this.secrets.length >= MAX_SECRETS) this.secrets.shift();
      this.secrets.push(value);
    }
    return REDACTED;
  }

  /** A string argument with every remembered secret replaced (unchanged when it holds none). */
  private scrub(bytes: Uint8Array): Uint8Array {
    if (this.secrets.length === 0) return bytes;
    const s = text.decode(bytes);
    let out = s;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out === s ? bytes : encodeUtf8(out);
  }

  /** A serialized header map with the listed values redacted (unchanged when none is listed). */
  private map(bytes: Uint8Array): Uint8Array {
    const pairs = decodePairs(bytes);
    if (!pairs?.some(([k]) => this.hides(k))) return bytes;
    return encodePairs(this.pairs(pairs));
  }

  /**
   * A hostcall's arguments and results with secrets redacted: maps by their keys, a header value by its
   * name (proxy_*_header_map_value), a property by its path (request.headers.authorization, or the whole
   * request.headers map).
   */
  hostcall(name: string, args: ArgValue[], outs: ArgValue[]): void {
    const redactMaps = (values: ArgValue[]) => {
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v.k === 'm') values[i] = { k: 'm', v: this.map(v.v) };
      }
    };
    redactMaps(args);
    redactMaps(outs);
    if (HEADER_VALUE_CALLS.has(name)) {
      const key = args[1];
      if (key?.k === 's' && this.hides(text.decode(key.v))) {
        if (args[2]?.k === 's') args[2] = this.secretArg(args[2].v);
        if (outs[0]?.k === 's') outs[0] = this.secretArg(outs[0].v);
      }
      return;
    }
    for (let i = 0; i < args.length; i++) {
      const v = args[i];
      if (v.k === 's') args[i] = { k: 's', v: this.scrub(v.v) };
    }
    if (name === 'proxy_get_property' || name === 'proxy_set_property') {
      const path = args[0];
      if (path?.k !== 'p') return;
      const m = /^(?:request|response)\.(?:headers|trailers)(?:\.(.+))?$/.exec(path.v);
      if (!m) return;
      const target = name === 'proxy_get_property' ? outs : args;
      const i = name === 'proxy_get_property' ? 0 : 1;
      const v = target[i];
      if (v?.k !== 's') return;
      if (m[1] === undefined) target[i] = { k: 's', v: this.map(v.v) };
      else if (this.hides(m[1])) target[i] = this.secretArg(v.v);
    }
  }

  private secretArg(value: Uint8Array): ArgValue {
    this.secret(text.decode(value));
    return { k: 's', v: REDACTED_BYTES };
  }
}
