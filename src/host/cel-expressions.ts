// CEL expressions for Envoy's expr_create / expr_evaluate / expr_delete foreign functions, on @bufbuild/cel:
// an expression is parsed and planned once (per root context, by token, as Envoy keeps them), and evaluated
// against the calling context's attributes — the names Envoy's Wasm context resolves (request, response,
// source, destination, upstream, connection, plugin_*, route_name, cluster_name, filter_state…) — with the
// result serialized as proxy_get_property serializes values.

import {
  type CelInput,
  type CelValue,
  celEnv,
  isCelError,
  isCelList,
  isCelMap,
  isCelUint,
  parse,
  plan,
} from '@bufbuild/cel';
import { HeaderMap } from '../abi/header-map.js';
import { encodeBytePairs, encodeProperty, Float64, type PropertyValue } from '../abi/property-codec.js';

type Evaluate = (bindings: Record<string, CelInput>) => unknown;

/** The attributes of each top-level name, as the stream serves them (src/host/stream-attributes.ts). */
const FIELDS: Record<string, readonly string[]> = {
  request: [
    'path',
    'url_path',
    'host',
    'scheme',
    'method',
    'headers',
    'referer',
    'useragent',
    'id',
    'time',
    'protocol',
    'duration',
    'size',
    'total_size',
    'query',
  ],
  response: ['code', 'code_details', 'flags', 'grpc_status', 'headers', 'trailers', 'size', 'total_size'],
  source: ['address', 'port'],
  destination: ['address', 'port'],
  upstream: ['address', 'port'],
  connection: ['id', 'mtls', 'requested_server_name', 'tls_version'],
  xds: ['route_name', 'cluster_name', 'listener_direction'],
};
const SCALARS = [
  'plugin_name',
  'plugin_root_id',
  'plugin_vm_id',
  'route_name',
  'cluster_name',
  'listener_direction',
  'connection_id',
];

const env = celEnv();

export class CelExpressions {
  private readonly expressions = new Map<number, Evaluate>();
  private nextToken = 0;

  /** The token of a new expression; throws (with the parser's message) when it does not parse or plan. */
  create(text: string): number {
    const evaluate = plan(env, parse(text)) as Evaluate;
    let token = this.nextToken >>> 0;
    while (this.expressions.has(token)) token = (token + 1) >>> 0;
    this.nextToken = (token + 1) >>> 0;
    this.expressions.set(token, evaluate);
    return token;
  }

  has(token: number): boolean {
    return this.expressions.has(token);
  }

  delete(token: number): void {
    this.expressions.delete(token);
  }

  /**
   * Evaluates `token` with the attributes `lookup` finds: the serialized result, 'error' when evaluation
   * failed (an attribute that is absent, a type error), 'unserializable' for a value get_property could not
   * return either (null, a type).
   */
  evaluate(
    token: number,
    lookup: (path: readonly string[]) => PropertyValue | undefined,
    filterState: ReadonlyMap<string, Uint8Array>,
  ): Uint8Array | 'error' | 'unserializable' {
    const evaluate = this.expressions.get(token);
    if (!evaluate) throw new Error(`no expression ${token}`);
    const bindings: Record<string, CelInput> = {};
    for (const [root, fields] of Object.entries(FIELDS)) {
      const map = new Map<string, CelInput>();
      for (const f of fields) {
        const v = lookup([root, f]);
        if (v !== undefined) map.set(f, celInput(v));
      }
      bindings[root] = map;
    }
    for (const name of SCALARS) {
      const v = lookup([name]);
      if (v !== undefined) bindings[name] = celInput(v);
    }
    bindings.filter_state = new Map([...filterState].map(([k, v]) => [k, v]));
    let result: unknown;
    try {
      result = evaluate(bindings);
    } catch {
      return 'error';
    }
    if (isCelError(result)) return 'error';
    const out = serialize(result as CelValue);
    return out ?? 'unserializable';
  }
}

function celInput(v: PropertyValue): CelInput {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (v instanceof Float64) return v.value;
  if (v instanceof HeaderMap) {
    const m = new Map<string, string>();
    for (const [k] of v.pairs()) if (!m.has(k)) m.set(k, v.getAll(k).join(','));
    return m;
  }
  if (Array.isArray(v)) return new Map(v as Array<[string, string]>);
  return v as CelInput;
}

/** As Envoy's serializeValue: scalars as get_property returns them, maps and lists as pairs; else undefined. */
function serialize(v: CelValue): Uint8Array | undefined {
  if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'bigint' || v instanceof Uint8Array)
    return encodeProperty(v);
  if (typeof v === 'number') return encodeProperty(new Float64(v));
  if (isCelUint(v)) return encodeProperty(v.value);
  if (isCelMap(v)) {
    const pairs: Array<[Uint8Array, Uint8Array]> = [];
    for (const [k, value] of v.entries()) {
      const key = serialize(k as CelValue);
      const val = serialize(value);
      if (key === undefined || val === undefined) return undefined;
      pairs.push([key, val]);
    }
    return encodeBytePairs(pairs);
  }
  if (isCelList(v)) {
    const pairs: Array<[Uint8Array, Uint8Array]> = [];
    for (const element of v.values()) {
      const e = serialize(element);
      if (e === undefined) return undefined;
      pairs.push([e, new Uint8Array(0)]);
    }
    return encodeBytePairs(pairs);
  }
  return undefined;
}
