// Property lookup, in Envoy's order: values the filter set itself, the plugin's own attributes, the
// stream's attributes (from the driver), then node-level attributes. A path into a map attribute
// (request.headers + "x-foo") reads that entry.

import { HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';
import type { Context } from './context.js';

export function resolveProperty(ctx: Context, path: readonly string[]): PropertyValue | undefined {
  const key = path.join('.');
  const own = ctx.userProperty(key) ?? ctx.root.userProperty(key);
  if (own) return own;
  const plugin = ctx.plugin;
  switch (key) {
    case 'plugin_name':
    case 'xds.plugin_name':
      return plugin.name;
    case 'plugin_root_id':
      return plugin.rootId;
    case 'plugin_vm_id':
      return plugin.vmId;
  }
  const fromStream = lookup((p) => ctx.stream?.property(p), path);
  if (fromStream !== undefined) return fromStream;
  return lookup((p) => plugin.host.nodeProperty(p), path);
}

function lookup(
  source: (path: readonly string[]) => PropertyValue | undefined,
  path: readonly string[],
): PropertyValue | undefined {
  const v = source(path);
  if (v !== undefined || path.length < 2) return v;
  const parent = source(path.slice(0, -1));
  if (parent instanceof HeaderMap) return parent.get(path[path.length - 1]);
  return undefined;
}
