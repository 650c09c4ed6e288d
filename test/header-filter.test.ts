// header_filter.wasm (C, ABI 0.2.1), through the public harness. Behaviour: fixtures/README.md.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Action, loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const wasm = fixture('header_filter');

describe('header_filter.wasm', () => {
  test('is an ABI 0.2.1 module and logs nothing while starting', async () => {
    const h = await loadFilter({ wasm, pluginConfig: 'ignored', vmConfig: 'ignored too' });
    assert.equal(h.abiVersion, '0.2.1');
    assert.equal(h.state, 'ready');
    assert.deepEqual(h.logs, []);
  });

  test('logs every request header in order, in one DEBUG line', async () => {
    const h = await loadFilter({ wasm });
    const s = h.newStream();
    s.sendRequestHeaders([
      [':method', 'GET'],
      [':path', '/hello'],
      ['User-Agent', 'curl/8'],
      ['accept', '*/*'],
      ['x-dup', '1'],
      ['x-dup', '2'],
    ]);
    assert.equal(h.logs.length, 1);
    const [entry] = h.logs;
    assert.equal(entry.level, 'debug');
    assert.equal(entry.source, 'filter');
    assert.equal(entry.plugin, 'header_filter');
    assert.equal(entry.contextId, s.context.id);
    assert.equal(
      entry.message,
      'request headers: :method=GET, :path=/hello, user-agent=curl/8, accept=*/*, x-dup=1, x-dup=2',
    );
  });

  test("the README's example and the empty map", async () => {
    const h = await loadFilter({ wasm });
    h.newStream().sendRequestHeaders({ ':method': 'GET', ':path': '/hello' });
    h.newStream().sendRequestHeaders({});
    assert.deepEqual(h.logMessages('debug'), [
      'request headers: :method=GET, :path=/hello',
      'request headers: ',
    ]);
  });

  test('UTF-8 header values reach the filter and its log intact', async () => {
    const h = await loadFilter({ wasm });
    h.newStream().sendRequestHeaders({ ':path': '/ünïcode', 'x-name': 'héllo 🦀' });
    assert.deepEqual(h.logMessages(), ['request headers: :path=/ünïcode, x-name=héllo 🦀']);
  });

  test('the DEBUG line is dropped when the host logs at info', async () => {
    const h = await loadFilter({ wasm, logLevel: 'info' });
    const s = h.newStream();
    assert.equal(s.sendRequestHeaders({ ':path': '/' }), Action.Continue);
    assert.deepEqual(h.logs, []);
    assert.equal(s.requestHeaders['x-wasm-filter'], 'c', 'the filter still ran');
  });

  test('adds x-wasm-filter: c to the request and continues', async () => {
    const h = await loadFilter({ wasm });
    const s = h.newStream();
    const action = s.sendRequestHeaders({ ':method': 'GET', ':path': '/hello', ':authority': 'example.com' });
    assert.equal(action, Action.Continue);
    assert.equal(s.requestPaused, false);
    assert.deepEqual(s.request.headers?.pairs(), [
      [':method', 'GET'],
      [':path', '/hello'],
      [':authority', 'example.com'],
      ['x-wasm-filter', 'c'],
    ]);
  });

  test('x-wasm-filter is added even when one is there already (a duplicate)', async () => {
    const h = await loadFilter({ wasm });
    const s = h.newStream();
    s.sendRequestHeaders({ ':path': '/', 'x-wasm-filter': 'upstream' });
    assert.deepEqual(s.request.headers?.getAll('x-wasm-filter'), ['upstream', 'c']);
  });

  test('replaces the response x-powered-by, adds it when absent, and continues', async () => {
    const h = await loadFilter({ wasm });

    const replaced = h.newStream();
    replaced.sendRequestHeaders({ ':path': '/' });
    const action = replaced.sendResponseHeaders([
      [':status', '200'],
      ['x-powered-by', 'PHP/8'],
      ['content-type', 'text/html'],
      ['X-Powered-By', 'Express'],
    ]);
    assert.equal(action, Action.Continue);
    assert.equal(replaced.responsePaused, false);
    assert.deepEqual(replaced.response.headers?.pairs(), [
      [':status', '200'],
      ['x-powered-by', 'wasmgate-c'],
      ['content-type', 'text/html'],
    ]);

    const added = h.newStream();
    added.sendRequestHeaders({ ':path': '/' });
    added.sendResponseHeaders({ ':status': '204' });
    assert.deepEqual(added.response.headers?.pairs(), [
      [':status', '204'],
      ['x-powered-by', 'wasmgate-c'],
    ]);
  });

  test('bodies pass through untouched (the filter has no body callbacks)', async () => {
    const h = await loadFilter({ wasm });
    const s = h.newStream();
    s.sendRequestHeaders({ ':method': 'POST', ':path': '/' });
    assert.equal(s.sendRequestBody('abc'), Action.Continue);
    assert.equal(s.sendRequestBody('def', { endOfStream: true }), Action.Continue);
    s.sendResponseHeaders({ ':status': '200' });
    s.sendResponseBody('response', { endOfStream: true });
    assert.equal(s.requestBody, 'abcdef');
    assert.equal(s.responseBody, 'response');
  });

  test('1000 requests do not grow guest memory, and every stream context is released', async () => {
    const h = await loadFilter({ wasm, logLevel: 'info' });
    const before = h.plugin.vm.memory.size;
    const bigValue = 'v'.repeat(4096);
    for (let i = 0; i < 1000; i++) {
      const s = h.newStream();
      s.sendRequestHeaders({
        ':method': 'GET',
        ':path': `/item/${i}`,
        ':authority': 'example.com',
        'x-big': bigValue,
      });
      s.sendResponseHeaders({ ':status': '200', 'x-powered-by': 'upstream' });
      assert.equal(s.requestHeaders['x-wasm-filter'], 'c');
      s.complete();
    }
    assert.equal(h.plugin.vm.memory.size, before);
    assert.equal(h.plugin.vm.contexts.size, 1, 'only the root context is left');
  });

  test('the DEBUG log line does not leak either (1000 requests at trace level)', async () => {
    const h = await loadFilter({ wasm });
    const before = h.plugin.vm.memory.size;
    for (let i = 0; i < 1000; i++) {
      const s = h.newStream();
      s.sendRequestHeaders({ ':method': 'GET', ':path': `/item/${i}`, 'x-pad': 'p'.repeat(512) });
      s.complete();
    }
    assert.equal(h.logs.length, 1000);
    assert.equal(h.plugin.vm.memory.size, before);
  });
});
