// The proxy's node identity as filters read it through properties.

import { HeaderMap } from '../abi/header-map.js';
import type { PropertyValue } from '../abi/property-codec.js';
import type { GatewayConfig } from '../control/schema.js';

/** node.id, node.cluster, node.metadata (a map) and node.metadata.<key>, as filters read them in Envoy. */
export function nodeProperties(
  node: GatewayConfig['node'],
): (path: readonly string[]) => PropertyValue | undefined {
  const metadata = new HeaderMap(Object.entries(node.metadata));
  return (path) => {
    if (path[0] !== 'node') return undefined;
    if (path.length === 2 && path[1] === 'id') return node.id;
    if (path.length === 2 && path[1] === 'cluster') return node.cluster;
    if (path[1] === 'metadata')
      return path.length === 2 ? metadata : path.length === 3 ? node.metadata[path[2]] : undefined;
    return undefined;
  };
}
