#!/usr/bin/env node
// TCP proxy throughput, three peers in one run: a plain Node TCP proxy (net + pipe both ways), wasmgate's
// TCP listener without a filter, and with a network filter (fixtures/c/network_filter.c, which reads every
// chunk each way through proxy_get_buffer_bytes). Each peer is its own process; the load (clients and the
// upstream) runs in this one.
//
// Two workloads per peer, rounds alternating between peers:
//   bulk      4 connections each writing 64 KiB chunks one way for the run's time: MiB/s the upstream received
//   ping-pong 16 connections, each sending 1 KiB and waiting for its echo: round trips per second
//
// Usage: node bench/tcp-bench.mjs [seconds per run (3)] [rounds (3)]   (needs `npm run build && npm run fixtures`)

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Math.min(Number(process.argv[2] ?? 3), 30);
const ROUNDS = Math.min(Number(process.argv[3] ?? 3), 10);
const children = [];
process.on('exit', () => {
  for (const c of children) c.kill();
});

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function start(args, ready) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d) => {
      out += d.toString();
      if (ready.test(out)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

// The upstream: counts what bulk connections send, echoes ping-pong ones (the first byte says which).
let received = 0;
const upstream = createServer((s) => {
  s.once('data', (first) => {
    if (first[0] === 0x42 /* B */) {
      received += first.length;
      s.on('data', (d) => {
        received += d.length;
      });
    } else {
      s.write(first);
      s.pipe(s);
    }
  });
  s.on('error', () => {});
});
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const up = upstream.address().port;

const dir = mkdtempSync(join(tmpdir(), 'wasmgate-tcp-bench-'));
const [plain, bare, filtered] = [await freePort(), await freePort(), await freePort()];
await start(
  [
    '-e',
    `const net = require('node:net');
net.createServer((c) => { const u = net.connect(${up}, '127.0.0.1'); c.pipe(u); u.pipe(c);
  c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); }).listen(${plain}, '127.0.0.1', () => console.log('ready'));`,
  ],
  /ready/,
);
writeFileSync(
  join(dir, 'gateway.yaml'),
  `logLevel: error
accessLog: { enabled: false }
listeners:
  - { name: bare, port: ${bare}, protocol: tcp, tcp: { cluster: up } }
  - name: filtered
    port: ${filtered}
    protocol: tcp
    tcp:
      cluster: up
      filters:
        - name: envoy.filters.network.wasm
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm
            config:
              name: inspect
              configuration: plain
              vm_config: { vm_id: inspect, code: { local: { filename: ${join(root, 'fixtures', 'build', 'network_filter.wasm')} } } }
clusters: [{ name: up, endpoints: ["127.0.0.1:${up}"] }]
`,
);
await start(
  [join(root, 'dist', 'cli', 'main.js'), 'run', '-c', join(dir, 'gateway.yaml')],
  /wasmgate listening/,
);

const open = (port) =>
  new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });

async function bulk(port) {
  const chunk = Buffer.alloc(64 * 1024, 0x42);
  const sockets = await Promise.all(Array.from({ length: 4 }, () => open(port)));
  received = 0;
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise((resolve) => {
          const pump = () => {
            while (performance.now() < end) if (!s.write(chunk)) return s.once('drain', pump);
            resolve();
          };
          pump();
        }),
    ),
  );
  const mib = received / 1048576 / ((performance.now() - t0) / 1000);
  for (const s of sockets) s.destroy();
  return mib;
}

async function pingPong(port) {
  const msg = Buffer.alloc(1024, 0x50);
  const sockets = await Promise.all(Array.from({ length: 16 }, () => open(port)));
  let trips = 0;
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise((resolve) => {
          let got = 0;
          s.on('data', (d) => {
            got += d.length;
            if (got < msg.length) return;
            got -= msg.length;
            trips++;
            if (performance.now() < end) s.write(msg);
            else resolve();
          });
          s.write(msg);
        }),
    ),
  );
  for (const s of sockets) s.destroy();
  return trips / ((performance.now() - t0) / 1000);
}

const peers = [
  ['node net.pipe proxy', plain],
  ['wasmgate tcp', bare],
  ['wasmgate tcp + network filter', filtered],
];
const results = new Map(peers.map(([name]) => [name, { bulk: [], pp: [] }]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, port] of peers) {
    results.get(name).bulk.push(await bulk(port));
    results.get(name).pp.push(await pingPong(port));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`tcp-bench: ${ROUNDS} rounds of ${SECONDS} s, medians`);
for (const [name] of peers) {
  const r = results.get(name);
  console.log(
    `${name.padEnd(32)} bulk ${median(r.bulk).toFixed(0).padStart(6)} MiB/s   ping-pong ${median(r.pp).toFixed(0).padStart(7)} round trips/s`,
  );
}
upstream.close();
process.exit(0);
