// The proxy's node identity as filters read it through properties.

import { type PropertyValue, structAt } from '../abi/property-codec.js';
import type { GatewayConfig } from '../control/schema.js';

/**
 * node.id, node.cluster, node.metadata and paths into it (node.metadata.<key>…), as filters read them in Envoy:
 * metadata encoded as a Struct (strings as they are, numbers as doubles, objects as maps).
 */
export function nodeProperties(
  node: GatewayConfig['node'],
): (path: readonly string[]) => PropertyValue | undefined {
  return (path) => {
    if (path[0] !== 'node') return undefined;
    if (path.length === 2 && path[1] === 'id') return node.id;
    if (path.length === 2 && path[1] === 'cluster') return node.cluster;
    if (path[1] === 'metadata') return structAt(node.metadata, path, 2);
    return undefined;
  };
}
