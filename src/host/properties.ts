// Property lookup, in Envoy's order (Context::findValue): the plugin's own attributes, the stream's
// attributes (from the driver), node-level attributes, then what filters on the stream set with
// proxy_set_property (Envoy's filter state, `wasm.<name>`). A path into a map attribute (request.headers +
// "x-foo") reads that entry, every value of a repeated header joined with commas as Envoy's CEL maps do.

import { Status } from '../abi/constants.js';
import { HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';
import { declaredProperty } from './declared-properties.js';
import type { LoggedStream } from './driver.js';
import type { CallContext } from './hostcalls/env.js';

/** Envoy's prefix for what proxy_set_property stores in the stream's filter state. */
const FILTER_STATE_PREFIX = 'wasm.';

/** `logged`: the stream an access logger's root context reads in proxy_on_log (it has none of its own). */
export function resolveProperty(
  ctx: CallContext,
  path: readonly string[],
  logged?: LoggedStream,
): PropertyValue | undefined {
  const plugin = ctx.plugin;
  if (path.length === 1) {
    switch (path[0]) {
      case 'plugin_name':
        return plugin.name;
      case 'plugin_root_id':
        return plugin.rootId;
      case 'plugin_vm_id':
        return plugin.vmId;
    }
  }
  // An HTTP stream's attributes, a TCP connection's (a network filter's context), or those of the stream or
  // connection an access logger logs.
  const stream = ctx.stream ?? ctx.connection ?? logged;
  if (stream) {
    const fromStream = lookup((p) => stream.property(p), path);
    if (fromStream !== undefined) return fromStream;
  }
  // The node: `xds.node…` since Envoy 1.33, `node…` before it.
  const nodePath = path[0] === 'xds' && path[1] === 'node' ? path.slice(1) : path;
  const fromNode = lookup((p) => plugin.host.nodeProperty(p), nodePath);
  if (fromNode !== undefined) return fromNode;
  if (!stream) return undefined;
  // Objects set with Envoy's set_envoy_filter_state, by their key.
  if (path.length === 2 && path[0] === 'filter_state' && !path[1].startsWith(FILTER_STATE_PREFIX)) {
    const v = stream.objectFilterState?.(false)?.get(path[1]);
    if (v !== undefined) return v;
  }
  const state = stream.filterState(false);
  if (!state) return undefined;
  // A value is found by its first segment only, as in Envoy: one set under a longer path cannot be read back.
  if (path.length === 1) return state.get(path[0]);
  if (path.length === 2 && path[0] === 'filter_state' && path[1].startsWith(FILTER_STATE_PREFIX))
    return state.get(path[1].slice(FILTER_STATE_PREFIX.length));
  return undefined;
}

/**
 * proxy_set_property: into the stream's filter state, shared by the filters on the stream. Outside a stream
 * (a root context) there is none: NotFound, as Envoy answers. A property the root context declared read-only
 * (declare_property) is set once: BadArgument after that, as Envoy's CelState refuses it.
 */
export function setProperty(ctx: CallContext, path: readonly string[], value: Uint8Array): Status {
  const state = (ctx.stream ?? ctx.connection)?.filterState(true);
  if (!state) return Status.NotFound;
  const name = path.join('\0');
  if (state.has(name) && declaredProperty(ctx.root, name)?.readonly) return Status.BadArgument;
  state.set(name, value);
  return Status.Ok;
}

function lookup(
  source: (path: readonly string[]) => PropertyValue | undefined,
  path: readonly string[],
): PropertyValue | undefined {
  const v = source(path);
  if (v !== undefined || path.length < 2) return v;
  const parent = source(path.slice(0, -1));
  if (parent instanceof HeaderMap) {
    const all = parent.getAll(path[path.length - 1]);
    return all.length === 0 ? undefined : all.length === 1 ? all[0] : all.join(',');
  }
  return undefined;
}
