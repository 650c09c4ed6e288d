// Envoy's foreign functions that act on the calling context (source/extensions/common/wasm/foreign.cc):
// declare_property, set_envoy_filter_state, clear_route_cache and the CEL expr_create / expr_evaluate /
// expr_delete. Arguments are Envoy's: protobuf messages (ext/declare_property.proto,
// ext/set_envoy_filter_state.proto), an expression's text, a token as 4 little-endian bytes.

import { Status } from '../../abi/constants.js';
import { decodeMessage, type ProtoMessage } from '../../abi/protobuf-wire.js';
import { decodeUtf8 } from '../../abi/utf8.js';
import { CelExpressions } from '../cel-expressions.js';
import { declareProperty, LIFE_SPANS, WASM_TYPES } from '../declared-properties.js';
import { resolveProperty } from '../properties.js';
import { sanitizedProperty } from '../sanitize.js';
import type { CallContext } from './env.js';

/** Returns result bytes, nothing (OK, no result), or a status. */
export type ContextForeignFunction = (ctx: CallContext, args: Uint8Array) => Uint8Array | number | undefined;

/**
 * Filter state objects set_envoy_filter_state can make, by key (Envoy's ObjectFactory registry): the value
 * as the object keeps it, or undefined for bytes the factory refuses. Only factories whose object means
 * nothing more to the proxy than its value are here; any other key is NOT_FOUND, as an unregistered one in
 * Envoy.
 */
const OBJECT_FACTORIES: Record<string, (value: Uint8Array) => Uint8Array | undefined> = {
  // Envoy's StringAccessor: any string.
  'envoy.string': (value) => value,
};

const expressions = new WeakMap<object, CelExpressions>();

/** The CEL expressions of `ctx`'s root context (Envoy keeps them there: every stream of the plugin uses them). */
function expressionsOf(ctx: CallContext): CelExpressions {
  let e = expressions.get(ctx.root);
  if (!e) {
    e = new CelExpressions();
    expressions.set(ctx.root, e);
  }
  return e;
}

function message(args: Uint8Array): ProtoMessage | undefined {
  try {
    return decodeMessage(args);
  } catch {
    return undefined;
  }
}

/** An enum field: its name in `names`, the first (Envoy's default) for a value out of range. */
function enumField<T>(m: ProtoMessage, field: number, names: readonly T[]): T {
  const n = Number(m.uint(field));
  return names[n] ?? names[0];
}

function token(args: Uint8Array): number | undefined {
  return args.length === 4 ? new DataView(args.buffer, args.byteOffset, 4).getUint32(0, true) : undefined;
}

export const envoyContextForeignFunctions: Record<string, ContextForeignFunction> = {
  // DeclarePropertyArguments: name = 1, readonly = 2, type = 3, schema = 4, span = 5.
  declare_property(ctx, args) {
    const m = message(args);
    if (!m) return Status.BadArgument;
    const ok = declareProperty(ctx, m.string(1), {
      readonly: m.bool(2),
      type: enumField(m, 3, WASM_TYPES),
      schema: m.bytes(4),
      span: enumField(m, 5, LIFE_SPANS),
    });
    return ok ? undefined : Status.BadArgument;
  },

  // SetEnvoyFilterStateArguments: path = 1 (the key), value = 2, span = 3.
  set_envoy_filter_state(ctx, args) {
    const m = message(args);
    if (!m) return Status.BadArgument;
    const key = m.string(1);
    const factory = OBJECT_FACTORIES[key];
    if (!factory) return Status.NotFound;
    const object = factory(m.bytes(2));
    if (!object) return Status.BadArgument;
    const state = (ctx.stream ?? ctx.connection)?.objectFilterState?.(true);
    if (!state) return Status.NotFound;
    state.set(key, object.slice());
    return undefined;
  },

  clear_route_cache(ctx) {
    ctx.stream?.clearRouteCache();
    return undefined;
  },

  expr_create(ctx, args) {
    let t: number;
    try {
      t = expressionsOf(ctx).create(decodeUtf8(args, 0, args.length));
    } catch {
      return Status.BadArgument;
    }
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, t, true);
    return out;
  },

  expr_evaluate(ctx, args) {
    const exprs = expressionsOf(ctx);
    const t = token(args);
    if (t === undefined) return Status.BadArgument;
    if (!exprs.has(t)) return Status.NotFound;
    const sanitizer = ctx.plugin.sanitizer;
    const lookup = (path: readonly string[]) => {
      const found = resolveProperty(ctx, path);
      return sanitizer ? sanitizedProperty(sanitizer, path, found) : found;
    };
    const state = new Map<string, Uint8Array>();
    const stream = ctx.stream ?? ctx.connection;
    for (const [k, v] of stream?.filterState(false) ?? []) state.set(`wasm.${k}`, v);
    for (const [k, v] of stream?.objectFilterState?.(false) ?? []) state.set(k, v);
    const r = exprs.evaluate(t, lookup, state);
    if (r === 'error') return Status.InternalFailure;
    if (r === 'unserializable') return Status.SerializationFailure;
    return r;
  },

  expr_delete(ctx, args) {
    const t = token(args);
    if (t === undefined) return Status.BadArgument;
    expressionsOf(ctx).delete(t);
    return undefined;
  },
};
