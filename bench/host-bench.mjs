// In-process host benchmark: a header-logging filter (fixtures/c/header_filter.c: reads all request
// headers, logs them at debug, reads :path, adds a header; replaces one response header) driven through
// the host with a minimal driver, as the proxy drives it. Prints µs per request, and the time to load,
// instantiate and configure each fixture module.
// Run: npm run build && npm run fixtures && node bench/host-bench.mjs

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HeaderMap, Host, MapType, Plugin, Status } from '../dist/index.js';

const root = new URL('..', import.meta.url).pathname;
const fixture = (n) => join(root, 'fixtures', 'build', `${n}.wasm`);

const REQUEST = [
  [':authority', 'api.example.com'],
  [':path', '/v1/orders/12345?expand=items'],
  [':method', 'GET'],
  [':scheme', 'https'],
  ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) bench/1.0'],
  ['accept', 'application/json'],
  ['accept-encoding', 'gzip, deflate, br'],
  ['x-forwarded-for', '10.1.2.3'],
  ['x-forwarded-proto', 'https'],
  ['x-request-id', '9b2f7c1e-3d4a-4e5b-8c6d-7e8f9a0b1c2d'],
];
const RESPONSE = [
  [':status', '200'],
  ['content-type', 'application/json'],
  ['content-length', '512'],
  ['x-powered-by', 'upstream'],
];

class BenchStream {
  constructor() {
    this.req = new HeaderMap(REQUEST);
    this.res = new HeaderMap(RESPONSE);
  }
  headerMap(type) {
    return type === MapType.HttpRequestHeaders
      ? this.req
      : type === MapType.HttpResponseHeaders
        ? this.res
        : undefined;
  }
  bodyBuffer() {
    return undefined;
  }
  sendLocalResponse() {}
  continueStream() {
    return Status.Ok;
  }
  closeStream() {
    return Status.Ok;
  }
  clearRouteCache() {}
  property() {
    return undefined;
  }
}

async function requestLoop() {
  const host = new Host({ logLevel: 'info', timers: 'manual', log: () => {} });
  const module = await host.compile(readFileSync(fixture('header_filter')), 'header_filter.wasm');
  const plugin = await Plugin.start(host, module, { name: 'bench' });
  const one = () => {
    const s = new BenchStream();
    const ctx = plugin.newHttpContext(s);
    ctx.onRequestHeaders(true);
    ctx.onResponseHeaders(false);
    ctx.finish();
  };
  for (let i = 0; i < 20000; i++) one();
  const n = 200000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) one();
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  // The same loop with the filter's debug log enabled (every request's headers logged and formatted).
  host.setLogLevel('debug');
  const m = 50000;
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < m; i++) one();
  const usDebug = Number(process.hrtime.bigint() - t1) / 1000 / m;
  return { us, usDebug };
}

async function loadTimes() {
  const out = [];
  for (const name of ['header_filter', 'kitchen_sink', 'as_filter', 'rust_filter']) {
    const bytes = readFileSync(fixture(name));
    const samples = [];
    for (let i = 0; i < 7; i++) {
      // A fresh host each time: no compile cache.
      const host = new Host({ logLevel: 'error', timers: 'manual', log: () => {} });
      const t0 = process.hrtime.bigint();
      const module = await host.compile(bytes, name);
      const plugin = await Plugin.start(host, module, { name, configuration: 'x' });
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
      plugin.stop();
    }
    samples.sort((a, b) => a - b);
    out.push({ module: name, kb: Math.round(bytes.length / 1024), ms: samples[3] });
  }
  return out;
}

const { us, usDebug } = await requestLoop();
console.log(`host: header filter, request+response headers: ${us.toFixed(2)} µs/request (target ≤ 6)`);
console.log(`host: same with the filter's debug log line emitted: ${usDebug.toFixed(2)} µs/request`);
for (const l of await loadTimes()) {
  console.log(`load+instantiate+configure ${l.module} (${l.kb} KB): ${l.ms.toFixed(2)} ms (median of 7)`);
}
