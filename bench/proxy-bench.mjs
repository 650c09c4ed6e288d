// Proxy throughput and latency, side by side in one run, with wrk on loopback against a tiny upstream
// (nginx returning a short body): wasmgate with one header filter, nginx (1 worker) as a plain reverse
// proxy, and a minimal node:http + undici passthrough without filters. Prints req/s, p50/p99 latency
// and the ratios the targets are stated in. Bounded: a few seconds per peer.
// Needs: wrk, nginx (Debian). Run: npm run build && npm run fixtures && node bench/proxy-bench.mjs [seconds]

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const seconds = Number(process.argv[2] ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'wasmgate-bench-'));
const children = [];

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function start(cmd, args, readyPattern) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d) => {
      out += d.toString();
      if (readyPattern.test(out)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${out}`)));
  });
}

async function waitPort(port) {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing answers on ${port}`);
}

function wrk(port) {
  // Warm up (JIT, connection pools), then measure.
  spawnSync('wrk', ['-t1', '-c32', '-d1s', `http://127.0.0.1:${port}/bench`]);
  const r = spawnSync(
    'wrk',
    ['-t1', '-c32', `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/bench`],
    { encoding: 'utf8' },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0);
  const lat = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(r.stdout);
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? '0';
  return { rps, p50: lat(50), p99: lat(99), errors: Number(errors) };
}

async function main() {
  const up = await freePort();
  const ngx = await freePort();
  const und = await freePort();
  const wg = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream backend { server 127.0.0.1:${up}; keepalive 64; }
  server { listen 127.0.0.1:${up}; location / { return 200 "hello from upstream\\n"; } }
  server {
    listen 127.0.0.1:${ngx};
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
  );
  start('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], /$^/).catch(() => {});
  await waitPort(up);
  await waitPort(ngx);
  await start(
    process.execPath,
    [join(root, 'bench', 'undici-passthrough.mjs'), String(und), String(up)],
    /ready/,
  );
  writeFileSync(
    join(dir, 'gateway.yaml'),
    `logLevel: warn
accessLog: { enabled: false }
listeners: [{ name: main, port: ${wg}, protocol: http1 }]
clusters: [{ name: up, endpoints: ["127.0.0.1:${up}"] }]
routes: [{ match: { prefix: / }, cluster: up }]
plugins:
  - wasm:
      name: header-filter
      vm_config: { code: { local: { filename: ${join(root, 'fixtures', 'build', 'header_filter.wasm')} } } }
`,
  );
  await start(
    process.execPath,
    [join(root, 'dist', 'cli', 'main.js'), 'run', '-c', join(dir, 'gateway.yaml')],
    /wasmgate listening/,
  );

  const results = {
    'nginx (1 worker, reverse proxy)': wrk(ngx),
    'node http + undici passthrough (no filter)': wrk(und),
    'wasmgate + header filter': wrk(wg),
  };
  console.log(`wrk -t1 -c32 -d${seconds}s, loopback, upstream: nginx return 200`);
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `${name.padEnd(46)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms${r.errors ? `   non-2xx: ${r.errors}` : ''}`,
    );
  }
  const w = results['wasmgate + header filter'].rps;
  console.log(
    `wasmgate / undici passthrough: ${(w / results['node http + undici passthrough (no filter)'].rps).toFixed(2)}x (target ≥ 1.3x)`,
  );
  console.log(
    `wasmgate / nginx: ${((100 * w) / results['nginx (1 worker, reverse proxy)'].rps).toFixed(0)}% (target ≥ 40%)`,
  );
}

try {
  await main();
} finally {
  for (const c of children) c.kill('SIGTERM');
}
