import assert from 'node:assert/strict';
import { it } from 'node:test';
import { HeaderMap } from '../src/abi/header-map.js';
import { nodeProperties } from '../src/http/node-properties.js';

it('node.id, node.cluster, node.metadata and node.metadata.<key>', () => {
  const get = nodeProperties({ id: 'gw-1', cluster: 'edge', metadata: { region: 'eu', tier: 'gold' } });
  assert.equal(get(['node', 'id']), 'gw-1');
  assert.equal(get(['node', 'cluster']), 'edge');
  assert.equal(get(['node', 'metadata', 'region']), 'eu');
  const md = get(['node', 'metadata']);
  assert.ok(md instanceof HeaderMap);
  assert.deepEqual(md.toObject(), { region: 'eu', tier: 'gold' });
  assert.equal(get(['node', 'metadata', 'missing']), undefined);
  assert.equal(get(['request', 'path']), undefined);
});
