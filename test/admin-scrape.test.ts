// /stats/prometheus with very many series (issue 18, item 1): the exposition is streamed, and no admin
// request can end the process — a failing one is answered 500 (or cut off) and the next is served.

import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { MetricType } from '../src/abi/constants.js';
import { parseConfig } from '../src/control/load-config.js';
import { type AdminSource, startAdmin } from '../src/observe/admin.js';
import { createLogger } from '../src/observe/logger.js';
import { Gateway } from '../src/server/gateway.js';
import { fixture } from './support/fixtures.js';

interface Scrape {
  status: number;
  /** Lines that start with `prefix`, as "name value". */
  matching: number;
  last: string | undefined;
  complete: boolean;
}

/** GETs `path`, counting lines as they arrive (a million lines are not kept). */
function scrape(port: number, path: string, prefix = ''): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res: IncomingMessage) => {
      let rest = '';
      let matching = 0;
      let last: string | undefined;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines)
          if (prefix && l.startsWith(prefix)) {
            matching++;
            last = l;
          }
      });
      const done = (complete: boolean) => resolve({ status: res.statusCode ?? 0, matching, last, complete });
      res.on('end', () => done(true));
      res.on('aborted', () => done(false));
      res.on('error', () => done(false));
    }).on('error', reject);
  });
}

function config(plugins: string): string {
  return `
listeners: [{name: main, address: 127.0.0.1, port: 0}]
clusters: [{name: none, endpoints: ["127.0.0.1:9"]}]
routes: [{name: all, match: {prefix: /}, cluster: none}]
accessLog: {enabled: false}
admin: {address: 127.0.0.1, port: 0}
${plugins}
`;
}

describe('admin API: /stats/prometheus at scale', () => {
  it('serves 70 000 series of one filter (a RangeError ended the process before)', async () => {
    const yaml = config(`plugins:
  - wasm:
      name: flood
      configuration: "70000"
      limits: {startCpuMs: 60000}
      vm_config: {code: {local: {filename: ${fixture('metric_flood')}}}}
`);
    const g = await Gateway.start(parseConfig(yaml, 'flood.yaml', process.cwd()), {
      watch: false,
      logger: createLogger('warn'),
    });
    try {
      const r = await scrape(g.adminPort!, '/stats/prometheus', 'flood_');
      assert.equal(r.status, 200);
      assert.ok(r.complete);
      assert.equal(r.matching, 70_000);
      assert.equal(r.last, 'flood_69999 70000');
      assert.equal((await scrape(g.adminPort!, '/ready')).status, 200);
    } finally {
      await g.close(0);
    }
  });

  it('streams a million series, and the admin API stays up', { timeout: 300_000 }, async () => {
    const g = await Gateway.start(parseConfig(config('plugins: []'), 'million.yaml', process.cwd()), {
      watch: false,
      logger: createLogger('warn'),
    });
    try {
      for (let i = 0; i < 1_000_000; i++) g.host.metrics.define(MetricType.Gauge, `series_${i}`);
      const [r, ready] = await Promise.all([
        scrape(g.adminPort!, '/stats/prometheus', 'series_'),
        scrape(g.adminPort!, '/ready'),
      ]);
      assert.equal(r.status, 200);
      assert.ok(r.complete);
      assert.equal(r.matching, 1_000_000);
      assert.equal(ready.status, 200);
    } finally {
      await g.close(0);
    }
  });
});

describe('admin API: a failing request never ends the process', () => {
  const ACCESS = { token: 'a-token-for-these-tests', allowedHosts: [] };
  const failing = (overrides: Partial<AdminSource>): AdminSource => ({
    ready: () => true,
    prometheus: () => ['ok 1\n'],
    configDump: () => ({}),
    plugins: () => [],
    logLevel: () => 'info',
    setLogLevel: () => {},
    putPlugin: () => Promise.reject(new Error('unused')),
    deletePlugin: () => Promise.resolve(undefined),
    reload: () => Promise.reject(new Error('unused')),
    lastError: () => undefined,
    pluginTrace: () => undefined,
    recordPlugin: () => false,
    takeRecordings: () => undefined,
    ...overrides,
  });

  it('answers 500 when a handler throws, logs it, and serves the next request', async () => {
    const logged: unknown[] = [];
    const admin = await startAdmin(
      failing({
        configDump: () => {
          throw new RangeError('Maximum call stack size exceeded');
        },
      }),
      0,
      '127.0.0.1',
      { access: ACCESS, onError: (e) => logged.push(e) },
    );
    try {
      const r = await scrape(admin.port, '/config_dump');
      assert.equal(r.status, 500);
      assert.equal(logged.length, 1);
      assert.match(String(logged[0]), /Maximum call stack/);
      assert.equal((await scrape(admin.port, '/ready')).status, 200);
    } finally {
      admin.server.close();
    }
  });

  it('answers 400 to a malformed percent-encoding in a plugin path (a URIError ended the process before)', async () => {
    const admin = await startAdmin(failing({}), 0, '127.0.0.1', { access: ACCESS });
    try {
      assert.equal((await scrape(admin.port, '/plugins/%E0%A4%A/trace')).status, 400);
      assert.equal((await scrape(admin.port, '/ready')).status, 200);
    } finally {
      admin.server.close();
    }
  });

  it('cuts a response off when the exposition fails half-way (its head was sent)', async () => {
    const admin = await startAdmin(
      failing({
        prometheus: function* () {
          yield 'a 1\n';
          throw new Error('a series broke');
        },
      }),
      0,
      '127.0.0.1',
      { access: ACCESS, onError: () => {} },
    );
    try {
      const r = await scrape(admin.port, '/stats/prometheus', 'a ');
      assert.equal(r.status, 200);
      assert.equal(r.complete, false);
      assert.equal((await scrape(admin.port, '/ready')).status, 200);
    } finally {
      admin.server.close();
    }
  });
});
