// In-process host benchmark: a header-logging filter (fixtures/c/header_filter.c: reads all request
// headers, logs them at debug, reads :path, adds a header; replaces one response header) driven through
// the host with a minimal driver, as the proxy drives it. Prints µs per request, and the time to load,
// instantiate and configure each fixture module (warm, and cold: the first load in a fresh process).
// Run: npm run build && npm run fixtures && node bench/host-bench.mjs
// BENCH_BASE=<another built checkout> node bench/host-bench.mjs [rounds]: only the request loop, that
// checkout's host and this one's in alternating rounds in one process (base first, then head, each round).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as head from '../dist/index.js';

const { Host, MapType, Plugin, Status } = head;

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
  constructor(api = head) {
    this.req = new api.HeaderMap(REQUEST);
    this.res = new api.HeaderMap(RESPONSE);
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

const NO_LIMITS = { cpuMs: 0, startCpuMs: 0, memoryMiB: 0 };

/** One plugin and a function that runs one request through it (`api`: which build's host; `extra`: more plugin options). */
async function setup(limits, name = 'header_filter', configuration = '', api = head, extra = {}) {
  const host = new api.Host({ logLevel: 'info', timers: 'manual', log: () => {} });
  const module = await host.compile(readFileSync(fixture(name)), `${name}.wasm`);
  const plugin = await api.Plugin.start(host, module, { name: 'bench', limits, configuration, ...extra });
  const one = () => {
    const s = new BenchStream(api);
    const ctx = plugin.newHttpContext(s);
    ctx.onRequestHeaders(true);
    ctx.onResponseHeaders(false);
    ctx.finish();
  };
  for (let i = 0; i < 20000; i++) one();
  return { host, one };
}

function time(one, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) one();
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}

/** CPU time of the process per call, µs: on a loaded machine, time waiting for a CPU is left out. */
function cpuTime(one, n) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) one();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

async function requestLoop() {
  // Default limits (the module instrumented: fuel counter, memory cap) against no limits (the module as
  // is), in alternating rounds so that both see the same machine state.
  const limited = await setup(undefined);
  const plain = await setup(NO_LIMITS);
  const a = [];
  const b = [];
  for (let round = 0; round < 7; round++) {
    a.push(time(limited.one, 100000));
    b.push(time(plain.one, 100000));
  }
  const us = median(a);
  const usPlain = median(b);
  // The same loop with the filter's debug log enabled (every request's headers logged and formatted).
  limited.host.setLogLevel('debug');
  const usDebug = time(limited.one, 50000);
  return { us, usPlain, usDebug };
}

/** The same comparison for compute-bound work in the guest (sandbox_probe "work": recursion and loops). */
async function computeLoop() {
  const limited = await setup(undefined, 'sandbox_probe', 'work');
  const plain = await setup(NO_LIMITS, 'sandbox_probe', 'work');
  const a = [];
  const b = [];
  for (let round = 0; round < 7; round++) {
    a.push(time(limited.one, 5000));
    b.push(time(plain.one, 5000));
  }
  return { us: median(a), usPlain: median(b) };
}

/** The header-filter loop with crash bundles on (every call recorded into the stream's ring) and off. */
async function recordingLoop() {
  const recording = await setup(undefined, 'header_filter', '', head, { crashBundles: { report: () => {} } });
  const off = await setup(undefined);
  const a = [];
  const b = [];
  for (let round = 0; round < 7; round++) {
    a.push(time(recording.one, 50000));
    b.push(time(off.one, 50000));
  }
  return { us: median(a), usOff: median(b) };
}

async function loadTimes() {
  const out = [];
  for (const name of [
    'header_filter',
    'kitchen_sink',
    'as_filter',
    'rust_filter',
    'rust_filter_unoptimized',
  ]) {
    const bytes = readFileSync(fixture(name));
    const ms = {};
    for (const [label, limits] of [
      ['limits', undefined],
      ['plain', NO_LIMITS],
    ]) {
      const samples = [];
      for (let i = 0; i < 7; i++) {
        // A fresh host each time: no compile cache (with limits: instrumenting and a second compile too).
        const host = new Host({ logLevel: 'error', timers: 'manual', log: () => {} });
        const t0 = process.hrtime.bigint();
        const module = await host.compile(bytes, name);
        const plugin = await Plugin.start(host, module, { name, configuration: 'x', limits });
        samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
        plugin.stop();
      }
      ms[label] = median(samples);
    }
    // And cold: the first load in a fresh process (median of 3 processes).
    for (const plain of [false, true]) {
      const samples = [];
      for (let i = 0; i < 3; i++) {
        const args = [join(root, 'bench', 'cold-load.mjs'), fixture(name), ...(plain ? ['plain'] : [])];
        const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
        const v = Number.parseFloat(r.stdout);
        if (r.status !== 0 || !Number.isFinite(v))
          throw new Error(`cold load of ${name} failed (exit ${r.status}): ${r.stderr || r.stdout}`);
        samples.push(v);
      }
      ms[plain ? 'coldPlain' : 'cold'] = median(samples);
    }
    out.push({ module: name, kb: Math.round(bytes.length / 1024), ms });
  }
  return out;
}

/** Base and head, the same loop in alternating rounds (with the default limits, and without). */
async function baseAgainstHead(dir, rounds) {
  const base = await import(join(dir, 'dist', 'index.js'));
  const out = {};
  for (const [label, limits] of [
    ['limits', undefined],
    ['no limits', NO_LIMITS],
  ]) {
    const b = await setup(limits, 'header_filter', '', base);
    const h = await setup(limits);
    const bs = [];
    const hs = [];
    for (let round = 0; round < rounds; round++) {
      bs.push(cpuTime(b.one, 50000));
      hs.push(cpuTime(h.one, 50000));
    }
    out[label] = { base: median(bs), head: median(hs), bs, hs };
  }
  return out;
}

if (process.env.BENCH_BASE) {
  const rounds = Number(process.argv[2] ?? 9);
  const r = await baseAgainstHead(process.env.BENCH_BASE, rounds);
  for (const [label, { base, head: h, bs, hs }] of Object.entries(r)) {
    const pct = ((h - base) / base) * 100;
    console.log(
      `host, header filter (${label}): base ${base.toFixed(3)} µs, head ${h.toFixed(3)} µs per request ` +
        `(CPU time, median of ${rounds} alternating rounds): ${pct >= 0 ? '+' : ''}${pct.toFixed(1)} %`,
    );
    console.log(`  rounds base: ${bs.map((v) => v.toFixed(2)).join(' ')}`);
    console.log(`  rounds head: ${hs.map((v) => v.toFixed(2)).join(' ')}`);
  }
  process.exit(0);
}

const { us, usPlain, usDebug } = await requestLoop();
console.log(`host: header filter, request+response headers: ${us.toFixed(2)} µs/request (target ≤ 6)`);
console.log(
  `host: same without CPU/memory limits (module not instrumented): ${usPlain.toFixed(2)} µs/request; ` +
    `limits cost ${(((us - usPlain) / usPlain) * 100).toFixed(1)} % (target < 15 %)`,
);
console.log(`host: same with the filter's debug log line emitted: ${usDebug.toFixed(2)} µs/request`);
const work = await computeLoop();
console.log(
  `host: compute-bound filter (sandbox_probe "work"): ${work.us.toFixed(2)} µs/request with limits, ` +
    `${work.usPlain.toFixed(2)} without; limits cost ${(((work.us - work.usPlain) / work.usPlain) * 100).toFixed(1)} %`,
);
const rec = await recordingLoop();
console.log(
  `host: header filter with crash bundles on (calls recorded): ${rec.us.toFixed(2)} µs/request, ` +
    `${rec.usOff.toFixed(2)} off; recording costs ${(((rec.us - rec.usOff) / rec.usOff) * 100).toFixed(1)} %`,
);
for (const l of await loadTimes()) {
  console.log(
    `load+instantiate+configure ${l.module} (${l.kb} KB): ${l.ms.limits.toFixed(2)} ms with limits, ` +
      `${l.ms.plain.toFixed(2)} ms without (median of 7); first load in a fresh process: ` +
      `${l.ms.cold.toFixed(2)} ms with limits, ${l.ms.coldPlain.toFixed(2)} ms without (target ≤ 10 ms for 160 KB)`,
  );
}
