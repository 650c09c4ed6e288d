// Network (L4) filters on TCP listeners, with real modules (fixtures/c/network_filter.c, fixtures/wat/
// network_hold.wat) against loopback servers: every callback in Envoy's order, data rewritten both ways,
// buffering while stopped, continue from a timer, close, the connection's properties, metrics and shared
// data, and the failure policy. Configured both ways: a WasmPlugin of type NETWORK, and Envoy's
// envoy.filters.network.wasm in the listener's chain.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/control/load-config.js';
import { createLogger } from '../src/observe/logger.js';
import { Gateway } from '../src/server/gateway.js';
import { fixture } from './support/fixtures.js';
import { selfSignedCert, tempDir } from './support/proxy.js';
import { echo, eventually, readAll, type TcpServer, tcpClient, tcpServer } from './support/tcp.js';

const C_FILTER = fixture('network_filter');
const WAT_HOLD = fixture('network_hold');

interface Running {
  gw: Gateway;
  up: TcpServer;
  /** The filters' log messages so far, in order. */
  messages(): string[];
  close(): Promise<void>;
}

async function start(
  plugins: string,
  upstream: (s: Socket) => void = echo,
  listenerExtra = '',
  tcpExtra = '',
): Promise<Running> {
  const up = await tcpServer(upstream);
  const log = join(tempDir(), 'log.jsonl');
  const yaml = `
accessLog: { enabled: false }
listeners:
  - name: tcp
    port: 0
    protocol: tcp
    tcp: { cluster: up${tcpExtra} }
${listenerExtra}
clusters:
  - name: up
    endpoints: ["127.0.0.1:${up.port}"]
    metadata: { filter_metadata: { tag: { team: blue } } }
${plugins}
`;
  const gw = await Gateway.start(parseConfig(yaml, 'tcp.yaml', process.cwd()), {
    logger: createLogger('info', log),
    watch: false,
  });
  return {
    gw,
    up,
    messages: () =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { source?: string; msg: string })
        .filter((l) => l.source === 'filter')
        .map((l) => l.msg),
    close: async () => {
      await gw.close(0);
      await up.close();
    },
  };
}

const wasmPlugin = (url: string, config: string, extra = '') => `
plugins:
  - apiVersion: extensions.istio.io/v1alpha1
    kind: WasmPlugin
    metadata: { name: net, namespace: t }
    spec:
      url: file://${url}
      type: NETWORK
      pluginConfig: ${config}
${extra}`;

describe('network filters: the C fixture as a WasmPlugin of type NETWORK', () => {
  it('rewrites both ways and sees every callback in order, with the connection properties', async () => {
    const r = await start(wasmPlugin(C_FILTER, 'upper'));
    try {
      const c = await tcpClient(r.gw.ports.tcp);
      const clientPort = c.localPort;
      const got = readAll(c);
      c.write('hello');
      await eventually('the echo', () => r.messages().some((m) => m.startsWith('upstream len=5')));
      c.end();
      assert.equal((await got).toString(), '< HELLO');
      await eventually('the context deleted', () => r.messages().includes('delete'));
      const m = r.messages();
      const at = (prefix: string) => {
        const i = m.findIndex((x) => x.startsWith(prefix));
        assert.ok(i >= 0, `no "${prefix}" in ${JSON.stringify(m)}`);
        return i;
      };
      assert.match(
        m[at('new connection')],
        new RegExp(
          `^new connection id=\\d+ source=127\\.0\\.0\\.1:${clientPort} dest_port=${r.gw.ports.tcp} mtls=0 sni=$`,
        ),
      );
      assert.equal(m[at('downstream len=5')], 'downstream len=5 eos=0 data=hello');
      assert.equal(m[at('upstream len=5')], 'upstream len=5 eos=0 data=HELLO');
      assert.ok(at('downstream len=0 eos=1') > at('downstream len=5'));
      assert.ok(
        at('upstream close peer=0') > at('upstream len=0 eos=1'),
        'Envoy: upstream close at its end, Unknown',
      );
      assert.equal(m[at('log upstream=')], `log upstream=127.0.0.1:${r.up.port} cluster=up team=blue`);
      const close = at('downstream close peer=');
      assert.ok(close < at('done') && at('done') < at('log upstream=') && at('log upstream=') < at('delete'));
      const metrics = [...r.gw.stats.exposition(r.gw.host.metrics)].join('');
      assert.match(metrics, /tcp_filter_connections\S* 1$/m);
      const id = /id=(\d+)/.exec(m[at('new connection')])?.[1];
      const last = r.gw.host.sharedData.get('t.net', 'tcp_filter_last');
      assert.ok(last);
      assert.equal(Buffer.from(last.value).readBigUInt64LE(), BigInt(id ?? -1));
    } finally {
      await r.close();
    }
  });

  it('holds data while it answers StopIteration, and lets it all through at once (buffering while stopped)', async () => {
    let received = '';
    const r = await start(wasmPlugin(C_FILTER, 'line'), (s) => {
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        received += d;
      });
    });
    try {
      const c = await tcpClient(r.gw.ports.tcp);
      c.write('abc');
      await eventually('the first data', () => r.messages().includes('downstream len=3 eos=0 data=abc'));
      c.write('def\n');
      await eventually('the line upstream', () => received === 'abcdef\n');
      // The filter saw everything buffered the second time, as Envoy passes it.
      assert.ok(r.messages().includes('downstream len=7 eos=0 data=abcdef\n'), JSON.stringify(r.messages()));
      c.destroy();
    } finally {
      await r.close();
    }
  });

  it('closes the connection with proxy_close_stream(Downstream); the close is Local', async () => {
    const r = await start(wasmPlugin(C_FILTER, 'quit'));
    try {
      const c = await tcpClient(r.gw.ports.tcp);
      const got = readAll(c);
      c.write('hello ');
      await eventually('the echo', () => r.messages().some((m) => m.startsWith('upstream len=6')));
      c.write('quit');
      assert.equal((await got).toString(), 'hello ');
      await eventually('the close', () => r.messages().includes('downstream close peer=1'));
      c.destroy();
    } finally {
      await r.close();
    }
  });

  it('StopIteration from proxy_on_new_connection: no upstream until the first data', async () => {
    const r = await start(wasmPlugin(C_FILTER, 'stopnew'));
    try {
      const c = await tcpClient(r.gw.ports.tcp);
      await eventually('the new connection', () => r.messages().some((m) => m.startsWith('new connection')));
      assert.equal(r.up.sockets.length, 0, 'no upstream connection yet');
      const got = readAll(c);
      c.end('late');
      assert.equal((await got).toString(), 'late');
      assert.equal(r.up.sockets.length, 1);
    } finally {
      await r.close();
    }
  });

  it('serves TLS facts: the server name the client asked for', async () => {
    const cert = selfSignedCert(tempDir());
    const r = await start(
      wasmPlugin(C_FILTER, 'plain'),
      echo,
      `    tls: { certFile: ${cert.certFile}, keyFile: ${cert.keyFile} }`,
    );
    try {
      const c = await tcpClient(r.gw.ports.tcp, true);
      const got = readAll(c);
      c.end('x');
      assert.equal((await got).toString(), 'x');
      await eventually('the new connection', () => r.messages().some((m) => m.startsWith('new connection')));
      assert.match(
        r.messages().find((m) => m.startsWith('new connection')) ?? '',
        / mtls=0 sni=tcp\.example$/,
      );
    } finally {
      await r.close();
    }
  });
});

describe("network filters: Envoy's envoy.filters.network.wasm in the listener's chain", () => {
  const envoyFilter = (url: string, failOpen: boolean) =>
    `, filters: [{ name: envoy.filters.network.wasm, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm, config: { name: hold, fail_open: ${failOpen}, vm_config: { vm_id: hold, code: { local: { filename: ${url} } } } } } }]`;

  it('holds data until the filter continues from its tick (proxy_set_effective_context + proxy_continue_stream)', async () => {
    const r = await start('', echo, '', envoyFilter(WAT_HOLD, false));
    try {
      const c = await tcpClient(r.gw.ports.tcp);
      const got = readAll(c);
      c.write('held for a tick');
      await eventually('the echo', () => r.up.sockets.length === 1);
      c.end();
      assert.equal((await got).toString(), 'held for a tick');
    } finally {
      await r.close();
    }
  });

  it('fail closed: a trap in the filter closes the connection', async () => {
    const r = await start('', echo, '', envoyFilter(WAT_HOLD, false));
    try {
      const c = await tcpClient(r.gw.ports.tcp);
      const got = readAll(c);
      c.write('crash');
      assert.equal((await got).length, 0);
    } finally {
      await r.close();
    }
  });

  it('fail open: a trap lets the connection go on without the filter', async () => {
    const r = await start('', echo, '', envoyFilter(WAT_HOLD, true));
    try {
      const c = await tcpClient(r.gw.ports.tcp);
      const got = readAll(c);
      c.end('crash');
      assert.equal((await got).toString(), 'crash');
    } finally {
      await r.close();
    }
  });
});
