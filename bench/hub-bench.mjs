// The hub against Debian's docker-registry (the CNCF distribution registry), in one run, on loopback,
// through wasmgate's registry client: push and pull of a 10 MiB module image, and push and pull of 1,000
// small manifests. Target: the hub at least 0.8x the registry's throughput in each.
//
//   npm run build && node bench/hub-bench.mjs [--rounds 3] [--manifests 1000] [--concurrency 8]
//
// Both run without auth (the registry anonymous, the hub with `open: true`); a third column runs the hub
// with accounts (Docker token auth through /token) for what the permission checks cost.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildImage, ImageReference, jsonBytes, MediaType, RegistryClient } from '../dist/oci/index.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    manifests: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    profile: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const MANIFESTS = Number(values.manifests);
const CONCURRENCY = Number(values.concurrency);
const MODULE_MIB = 10;

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function startRegistry() {
  const dir = mkdtempSync(join(tmpdir(), 'wasmgate-bench-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n` +
      `http:\n  addr: 127.0.0.1:${port}\n  secret: bench\n`,
  );
  const child = spawn('/usr/bin/docker-registry', ['serve', config], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try {
      await (await fetch(`http://127.0.0.1:${port}/v2/`)).arrayBuffer();
      return { host: `127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error('docker-registry did not start');
}

/** A hub in its own process (as docker-registry runs in its own), open or with accounts. */
async function startHubProcess(open) {
  const data = join(mkdtempSync(join(tmpdir(), 'wasmgate-bench-hub-')), 'data');
  const port = await freePort();
  const server = new URL('../dist/hub/server.js', import.meta.url).href;
  const code =
    `const { startHub } = await import(${JSON.stringify(server)});` +
    `await startHub({ data: ${JSON.stringify(data)}, port: ${port}, open: ${open}, adminPassword: 'bench-password' });` +
    `process.on('SIGTERM', () => process.exit(0));` +
    `process.stdout.write('ready\\n');`;
  // --profile <dir>: a CPU profile of each hub process (written when it exits on SIGTERM).
  const prof = values.profile ? ['--cpu-prof', '--cpu-prof-dir', values.profile] : [];
  const child = spawn(process.execPath, [...prof, '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
    child.once('exit', (c) => reject(new Error(`the hub exited with ${c}`)));
  });
  return { host: `127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

/** A valid module of about `mib` MiB: the example filter plus a custom section of random-ish bytes. */
function bigModule(mib, seed) {
  const base = readFileSync(new URL('../examples/add-header/add_header.wasm', import.meta.url));
  const payload = Buffer.alloc(mib * 1024 * 1024);
  for (let i = 0; i < payload.length; i += 4096) payload.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  const name = Buffer.from('bench');
  const body = Buffer.concat([Buffer.from([name.length]), name, payload]);
  const leb = [];
  let n = body.length;
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    leb.push(b);
  } while (n);
  return new Uint8Array(Buffer.concat([base, Buffer.from([0, ...leb]), body]));
}

async function pool(n, work) {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One round against one target: the 10 MiB module pushed and pulled, then the small manifests. */
async function measureRound(client, target, round, result) {
  // 10 MiB module: a new image each round (nothing already there to skip).
  const image = await buildImage(bigModule(MODULE_MIB, round + 1));
  const bytes = [...image.blobs.values()].reduce((s, b) => s + b.length, 0) / 2 ** 20;
  const ref = ImageReference.parse(`${target}/bench/big:r${round}`);
  let t = performance.now();
  await client.push(ref, image);
  result.pushMiBs.push(bytes / ((performance.now() - t) / 1000));
  t = performance.now();
  await client.pull(ref);
  result.pullMiBs.push(bytes / ((performance.now() - t) / 1000));

  // The small manifests over one small image's blobs, each with its own annotation (its own digest).
  const small = await buildImage(
    readFileSync(new URL('../examples/add-header/add_header.wasm', import.meta.url)),
  );
  const repo = `bench/small${round}`;
  await client.push(ImageReference.parse(`${target}/${repo}:base`), small);
  const manifests = Array.from({ length: MANIFESTS }, (_, i) =>
    jsonBytes({
      ...small.manifest,
      annotations: { ...small.manifest.annotations, 'bench.n': String(i) },
    }),
  );
  t = performance.now();
  await pool(MANIFESTS, (i) =>
    client.putManifest(ImageReference.parse(`${target}/${repo}:m${i}`), manifests[i], MediaType.ociManifest),
  );
  result.putPerS.push(MANIFESTS / ((performance.now() - t) / 1000));
  t = performance.now();
  await pool(MANIFESTS, (i) => client.getManifest(ImageReference.parse(`${target}/${repo}:m${i}`)));
  result.getPerS.push(MANIFESTS / ((performance.now() - t) / 1000));
}

const registry = await startRegistry();
const open = await startHubProcess(true);
const withAccounts = await startHubProcess(false);
const targets = [
  { name: 'registry', host: registry.host },
  { name: 'hub', host: open.host },
  {
    name: 'auth',
    host: withAccounts.host,
    credentials: { username: 'admin', password: 'bench-password', source: 'bench' },
  },
].map((x) => ({
  ...x,
  client: new RegistryClient({ credentials: async () => x.credentials, chunkSize: 64 * 1024 * 1024 }),
  result: { pushMiBs: [], pullMiBs: [], putPerS: [], getPerS: [] },
}));
try {
  // Rounds interleave the targets, so a burst of load from elsewhere on the machine hits each alike.
  for (let round = 0; round < ROUNDS; round++)
    for (const x of targets) await measureRound(x.client, x.host, round, x.result);
  const [reg, hub, auth] = targets.map((x) =>
    Object.fromEntries(Object.entries(x.result).map(([k, v]) => [k, median(v)])),
  );
  const rows = [
    ['push 10 MiB module (MiB/s)', 'pushMiBs'],
    ['pull 10 MiB module (MiB/s)', 'pullMiBs'],
    [`put ${MANIFESTS} manifests (/s)`, 'putPerS'],
    [`get ${MANIFESTS} manifests (/s)`, 'getPerS'],
  ];
  console.log(`medians of ${ROUNDS} rounds, ${CONCURRENCY} requests in flight for manifests`);
  console.log(
    'workload'.padEnd(32),
    'registry'.padStart(10),
    'hub'.padStart(10),
    'hub/reg'.padStart(8),
    'hub+auth'.padStart(10),
  );
  let ok = true;
  for (const [label, key] of rows) {
    const ratio = hub[key] / reg[key];
    if (ratio < 0.8) ok = false;
    console.log(
      label.padEnd(32),
      reg[key].toFixed(1).padStart(10),
      hub[key].toFixed(1).padStart(10),
      `${ratio.toFixed(2)}x`.padStart(8),
      auth[key].toFixed(1).padStart(10),
    );
  }
  console.log(
    ok
      ? 'target met: the hub at least 0.8x the registry in each'
      : 'TARGET MISSED: the hub below 0.8x the registry',
  );
} finally {
  for (const x of targets) await x.client.close();
  registry.stop();
  open.stop();
  withAccounts.stop();
}
