// The per-stream objects of the proxy's filter path must be plain fast objects with shared hidden
// classes. An object literal with an accessor (`{ get active() {…} }`) is a dictionary-mode object whose
// AccessorPair V8 allocates in old space; that pair points at the getter's closure and through it at the
// whole stream, so every stream outlived the young-generation GC: with any filter at all the proxy spent
// most of its time collecting (bench/README.md). %HasFastProperties / %HaveSameMap check for that.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import type { ByteBuffer } from '../src/abi/byte-buffer.js';
import { MapType } from '../src/abi/constants.js';
import { HeaderMap } from '../src/abi/header-map.js';
import { FilterPipeline, type PipelineSink } from '../src/host/filter-pipeline.js';
import { Host } from '../src/host/host.js';
import { Plugin } from '../src/host/plugin.js';
import { FilterSlot, type SlotHost } from '../src/http/filter-slot.js';
import { fixture } from './support/fixtures.js';
import { promotedDuring } from './support/gc.js';

setFlagsFromString('--allow-natives-syntax');
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
const fast = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;

let host: Host;
let plugin: Plugin;

before(async () => {
  host = new Host({ logLevel: 'error', timers: 'manual' });
  const bytes = await readFile(fixture('header_filter'));
  plugin = await Plugin.start(host, await host.compile(bytes, 'header_filter.wasm'), { name: 'hf' });
});

after(() => plugin.stop());

/** One stream's filter-path objects, driven through request and response headers and finished. */
function stream(finish = true) {
  const requestHeaders = new HeaderMap([
    [':method', 'GET'],
    [':path', '/'],
    [':authority', 'example'],
  ]);
  const responseHeaders = new HeaderMap([[':status', '200']]);
  const slotHost: SlotHost = {
    headerMap: (type) =>
      type === MapType.HttpRequestHeaders
        ? requestHeaders
        : type === MapType.HttpResponseHeaders
          ? responseHeaders
          : undefined,
    bodyBuffer: (): ByteBuffer | undefined => undefined,
    localReply: () => {},
    resume: () => {},
    reset: () => {},
    clearRouteCache: () => {},
    property: () => undefined,
    routePluginChoice: () => undefined,
    filterState: () => undefined,
    objectFilterState: () => undefined,
  };
  const sink: PipelineSink = { headers: () => {}, data: () => {}, trailers: () => {} };
  const slot = new FilterSlot(plugin, 0, slotHost);
  const request = new FilterPipeline([slot.requestStage], sink, 1024, () => {});
  const response = new FilterPipeline([slot.responseStage], sink, 1024, () => {});
  request.headers(requestHeaders, true);
  response.headers(responseHeaders, true);
  if (finish) slot.context.finish();
  return { slot, request, response };
}

test('each stream’s filter slot, stages, context and pipelines are fast objects of one hidden class', () => {
  const a = stream();
  const b = stream();
  const objects: Array<[string, object, object]> = [
    ['FilterSlot', a.slot, b.slot],
    ['HttpContext', a.slot.context, b.slot.context],
    ['request stage', a.slot.requestStage, b.slot.requestStage],
    ['response stage', a.slot.responseStage, b.slot.responseStage],
    ['request FilterPipeline', a.request, b.request],
    ['response FilterPipeline', a.response, b.response],
  ];
  for (const [name, x, y] of objects) {
    assert.ok(fast(x), `${name} has dictionary properties`);
    assert.ok(haveSameMap(x, y), `${name}: two streams have different hidden classes`);
  }
});

test('the stages still answer for the filter (the header filter saw and changed the request)', () => {
  const requestHeaders = new HeaderMap([[':path', '/x']]);
  const slot = new FilterSlot(plugin, 0, {
    headerMap: (type) => (type === MapType.HttpRequestHeaders ? requestHeaders : undefined),
    bodyBuffer: () => undefined,
    localReply: () => {},
    resume: () => {},
    reset: () => {},
    clearRouteCache: () => {},
    property: () => undefined,
    routePluginChoice: () => undefined,
    filterState: () => undefined,
    objectFilterState: () => undefined,
  });
  assert.equal(slot.requestStage.active, true);
  assert.equal(slot.requestStage.headers(true), 0);
  assert.equal(requestHeaders.get('x-wasm-filter'), 'c');
  slot.context.finish();
  assert.equal(slot.requestStage.active, false, 'a finished context is no longer active');
});

test('streams passing through a filter leave nothing behind in old space', () => {
  // 20 000 streams, 32 in flight at a time: their contexts come and go in the VM's context table. With a
  // Map there, dead streams were promoted by the megabyte (src/host/context-table.ts says why).
  const inflight: Array<ReturnType<typeof stream>> = [];
  const promoted = promotedDuring(
    () => {
      for (let i = 0; i < 40; i++) inflight.push(stream(false));
      for (const s of inflight.splice(0, 8)) s.slot.context.finish();
    },
    () => {
      inflight.push(stream(false));
      if (inflight.length > 32) inflight.shift()!.slot.context.finish();
    },
    20_000,
  );
  assert.ok(promoted < 1e6, `${promoted} bytes promoted`);
});
