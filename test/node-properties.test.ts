import assert from 'node:assert/strict';
import { it } from 'node:test';
import { decodePairs } from '../src/abi/header-map.js';
import { encodeProperty } from '../src/abi/property-codec.js';
import { nodeProperties } from '../src/http/node-properties.js';

it('node.id, node.cluster, node.metadata and node.metadata.<key>', () => {
  const get = nodeProperties({ id: 'gw-1', cluster: 'edge', metadata: { region: 'eu', tier: 'gold' } });
  assert.equal(get(['node', 'id']), 'gw-1');
  assert.equal(get(['node', 'cluster']), 'edge');
  assert.equal(get(['node', 'metadata', 'region']), 'eu');
  const md = get(['node', 'metadata']);
  assert.ok(md !== undefined);
  assert.deepEqual(decodePairs(encodeProperty(md)), [
    ['region', 'eu'],
    ['tier', 'gold'],
  ]);
  assert.equal(get(['node', 'metadata', 'missing']), undefined);
  assert.equal(get(['request', 'path']), undefined);
});

it("node.metadata holds any JSON, as Envoy's Struct: a map (Istio's LABELS), numbers as doubles", () => {
  const get = nodeProperties({
    id: 'gw-1',
    cluster: 'edge',
    metadata: { LABELS: { app: 'shop', version: 'v2' }, WEIGHT: 3 },
  });
  assert.deepEqual(decodePairs(encodeProperty(get(['node', 'metadata', 'LABELS'])!)), [
    ['app', 'shop'],
    ['version', 'v2'],
  ]);
  assert.equal(get(['node', 'metadata', 'LABELS', 'app']), 'shop');
  const w = encodeProperty(get(['node', 'metadata', 'WEIGHT'])!);
  assert.equal(new DataView(w.buffer, w.byteOffset).getFloat64(0, true), 3);
});
