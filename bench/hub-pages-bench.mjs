// The hub's web pages over 1,000 repositories: each page's response time on loopback (the server's time
// plus a loopback round trip), median and 95th percentile over --requests sequential requests, after a
// warm-up. Target: every page under 100 ms.
//
//   npm run build && node bench/hub-pages-bench.mjs [--repos 1000] [--requests 50]
//
// The repositories are seeded straight into the hub's metadata store (a manifest, a tag with module info,
// description, labels, pulls, public), as pushes would leave them; SQLite by default, or PostgreSQL with
// --database postgres://….

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startHub } from '../dist/hub/server.js';

const { values } = parseArgs({
  options: {
    repos: { type: 'string', default: '1000' },
    requests: { type: 'string', default: '50' },
    database: { type: 'string' },
  },
});
const REPOS = Number(values.repos);
const REQUESTS = Number(values.requests);
const LANGUAGES = ['C', 'Rust', 'Go', 'C++'];
const WORDS = ['header', 'auth', 'rate', 'limit', 'cors', 'jwt', 'cache', 'log', 'metrics', 'route'];

const data = join(mkdtempSync(join(tmpdir(), 'wasmgate-bench-pages-')), 'data');
const hub = await startHub({
  data,
  port: 0,
  database: values.database,
  adminPassword: 'bench-password',
  onError: (e) => console.error(e),
});
const { meta } = hub;

// Owners: 50 accounts (users and organisations), 20 repositories each for 1,000.
const owners = Array.from({ length: Math.ceil(REPOS / 20) }, (_, i) => `owner${i}`);
for (const [i, name] of owners.entries())
  await meta.accounts.createAccount({
    name,
    kind: i % 2 ? 'org' : 'user',
    admin: false,
    createdAt: Date.now(),
  });
const t0 = performance.now();
for (let i = 0; i < REPOS; i++) {
  const repo = `${owners[i % owners.length]}/filter-${WORDS[i % WORDS.length]}-${i}`;
  const digest = `sha256:${i.toString(16).padStart(64, '0')}`;
  await meta.linkBlob(repo, digest, 1000);
  await meta.putManifest(
    {
      repository: repo,
      digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 500,
      pushedAt: Date.now(),
    },
    'v1',
  );
  await meta.catalogue.recordPush(repo, digest, owners[i % owners.length], 20_000 + i, {
    format: 'oci',
    abiVersions: [i % 3 ? '0.2.1' : '0.2.0'],
    rootIds: ['root'],
    wasmDigest: digest,
    wasmSize: 20_000 + i,
    language: LANGUAGES[i % LANGUAGES.length],
  });
  await meta.catalogue.describe(repo, {
    description: `A ${WORDS[i % WORDS.length]} filter number ${i} for Envoy and Istio`,
    readme: `# Filter ${i}\n\nDoes **${WORDS[i % WORDS.length]}** things.\n\n\`\`\`yaml\nkey: value\n\`\`\`\n`,
    labels: [WORDS[i % WORDS.length], WORDS[(i + 3) % WORDS.length], 'example'],
  });
  await meta.accounts.setVisibility(repo, i % 10 ? 'public' : 'private');
  await meta.catalogue.recordPull(repo, digest, (i * 7919) % 5000);
}
for (let i = 0; i < 300; i++)
  await meta.accounts.audit({ at: Date.now(), actor: 'admin', action: 'push', target: `owner0/filter-${i}` });
console.log(`seeded ${REPOS} repositories in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// A signed-in admin for the pages behind sign-in.
const signin = await fetch(`${hub.url}/signin`);
const csrf = /name="_csrf" value="([^"]+)"/.exec(await signin.text())[1];
const anonCookie = signin.headers
  .getSetCookie()
  .map((c) => c.split(';')[0])
  .join('; ');
const res = await fetch(`${hub.url}/signin`, {
  method: 'POST',
  redirect: 'manual',
  headers: { cookie: anonCookie, 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ _csrf: csrf, name: 'admin', password: 'bench-password' }),
});
const session = res.headers
  .getSetCookie()
  .find((c) => c.startsWith('wgh_session='))
  .split(';')[0];

const pages = [
  ['home', '/', ''],
  ['search: words', '/search?q=header+filter', ''],
  ['search: filters', '/search?abi=0.2.1&language=Rust&label=example&sort=recent', ''],
  ['search: all, page 10', '/search?page=10', ''],
  ['live search fragment', '/search?q=auth&partial=1', ''],
  ['repository', `/r/${owners[1]}/filter-auth-1`, ''],
  ['account', `/u/${owners[2]}`, ''],
  ['home, signed in (admin)', '/', session],
  ['tokens', '/settings/tokens', session],
  ['audit log', '/audit', session],
];

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
console.log(`\n| page | median ms | p95 ms | bytes |\n| --- | --- | --- | --- |`);
let worst = 0;
for (const [name, path, cookie] of pages) {
  const get = async () => {
    const r = await fetch(`${hub.url}${path}`, { headers: cookie ? { cookie } : {} });
    const body = await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
    return body.byteLength;
  };
  for (let i = 0; i < 5; i++) await get();
  const times = [];
  let bytes = 0;
  for (let i = 0; i < REQUESTS; i++) {
    const t = performance.now();
    bytes = await get();
    times.push(performance.now() - t);
  }
  worst = Math.max(worst, pct(times, 0.95));
  console.log(`| ${name} | ${pct(times, 0.5).toFixed(1)} | ${pct(times, 0.95).toFixed(1)} | ${bytes} |`);
}
console.log(
  `\nslowest p95: ${worst.toFixed(1)} ms (target: under 100 ms) — ${worst < 100 ? 'met' : 'NOT met'}`,
);
await hub.close();
