// Properties a plugin declared with Envoy's declare_property foreign function: how proxy_set_property treats
// a value of that name (Envoy's CelStatePrototype). Declared in a context, looked up in the root context of
// the one that sets the value, as Envoy does (a declaration made in a stream context is kept, and unused).

/** DeclarePropertyArguments' WasmType and LifeSpan (envoy/source/extensions/common/wasm/ext/declare_property.proto). */
export const WASM_TYPES = ['bytes', 'string', 'flatbuffers', 'protobuf'] as const;
export const LIFE_SPANS = ['filter_chain', 'downstream_request', 'downstream_connection'] as const;

export interface PropertyPrototype {
  /** Set once: a second proxy_set_property is refused (BAD_ARGUMENT). */
  readonly: boolean;
  /** How CEL expressions see the value: bytes, or a string (flatbuffers and protobuf values are their bytes). */
  type: (typeof WASM_TYPES)[number];
  schema: Uint8Array;
  span: (typeof LIFE_SPANS)[number];
}

const declared = new WeakMap<object, Map<string, PropertyPrototype>>();

/** False when `name` is declared already in `owner` (Envoy keeps the first: values may refer to it). */
export function declareProperty(owner: object, name: string, prototype: PropertyPrototype): boolean {
  let map = declared.get(owner);
  if (!map) {
    map = new Map();
    declared.set(owner, map);
  }
  if (map.has(name)) return false;
  map.set(name, prototype);
  return true;
}

export function declaredProperty(owner: object, name: string): PropertyPrototype | undefined {
  return declared.get(owner)?.get(name);
}
