// TCP listeners (protocol: tcp) proxying to a cluster, as Envoy's tcp_proxy: bytes both ways, half-close
// each way, TLS termination, connect and idle timeouts, an upstream that refuses, and the configuration's
// checks. Against real loopback servers.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../src/control/config-error.js';
import { parseConfig } from '../src/control/load-config.js';
import { createLogger } from '../src/observe/logger.js';
import { Gateway } from '../src/server/gateway.js';
import { promValue, selfSignedCert, tempDir } from './support/proxy.js';
import {
  blackholePort,
  closed,
  echo,
  eventually,
  pattern,
  readAll,
  type TcpServer,
  tcpClient,
  tcpServer,
} from './support/tcp.js';

function gateway(yaml: string): Promise<Gateway> {
  return Gateway.start(parseConfig(yaml, 'tcp.yaml', process.cwd()), {
    logger: createLogger('error', '/dev/null'),
    watch: false,
  });
}

function metrics(gw: Gateway): string {
  return [...gw.stats.exposition()].join('');
}

function tcpConfig(upstreamPort: number, listener = '', cluster = ''): string {
  return `
accessLog: { enabled: false }
listeners:
  - name: tcp
    port: 0
    protocol: tcp
    tcp: { cluster: up }
${listener}
clusters:
  - name: up
    endpoints: ["127.0.0.1:${upstreamPort}"]
${cluster}
`;
}

describe('tcp proxy', () => {
  let up: TcpServer;
  let gw: Gateway;

  before(async () => {
    up = await tcpServer(echo);
    gw = await gateway(tcpConfig(up.port));
  });
  after(async () => {
    await gw?.close(0);
    await up?.close();
  });

  it('carries bytes both ways, intact (1 MiB through an echo server)', async () => {
    const c = await tcpClient(gw.ports.tcp);
    const data = pattern(1 << 20);
    const got = readAll(c);
    c.end(data);
    assert.ok((await got).equals(data));
  });

  it('serves several connections at once', async () => {
    const runs = Array.from({ length: 8 }, async (_, i) => {
      const c = await tcpClient(gw.ports.tcp);
      const got = readAll(c);
      c.end(`connection ${i}`);
      return (await got).toString();
    });
    assert.deepEqual(
      await Promise.all(runs),
      Array.from({ length: 8 }, (_, i) => `connection ${i}`),
    );
  });

  it('counts connections and bytes per listener', async () => {
    const c = await tcpClient(gw.ports.tcp);
    const got = readAll(c);
    c.end('count me');
    await got;
    await eventually(
      'the connection ended',
      () => promValue(metrics(gw), 'wasmgate_tcp_downstream_cx_active{listener="tcp"}') === 0,
    );
    const text = metrics(gw);
    assert.ok((promValue(text, 'wasmgate_tcp_downstream_cx_total{listener="tcp"}') ?? 0) >= 1, text);
    assert.equal(promValue(text, 'wasmgate_tcp_downstream_cx_active{listener="tcp"}'), 0);
    assert.ok((promValue(text, 'wasmgate_tcp_downstream_cx_rx_bytes_total{listener="tcp"}') ?? 0) >= 8);
  });
});

describe('tcp proxy: half-close', () => {
  it("passes the client's end to the upstream, which still answers after it", async () => {
    // Reads to the end, then answers with what it counted: only possible if the client's FIN came through
    // while the way back stayed open.
    const up = await tcpServer((s) => {
      let n = 0;
      s.on('data', (d: Buffer) => {
        n += d.length;
      });
      s.on('end', () => s.end(`got ${n} bytes`));
    });
    const gw = await gateway(tcpConfig(up.port));
    try {
      const c = await tcpClient(gw.ports.tcp);
      const got = readAll(c);
      c.end(pattern(100_000));
      assert.equal((await got).toString(), 'got 100000 bytes');
    } finally {
      await gw.close(0);
      await up.close();
    }
  });

  it("passes the upstream's end to the client, which can still send", async () => {
    // Says hello and ends at once; then counts what the client still sends, and reports it in the log.
    const done = { resolve: (_n: number) => {} };
    const finished = new Promise<number>((r) => {
      done.resolve = r;
    });
    const up = await tcpServer((s) => {
      s.end('hello, I am done talking');
      let n = 0;
      s.on('data', (d: Buffer) => {
        n += d.length;
      });
      s.on('end', () => done.resolve(n));
    });
    const gw = await gateway(tcpConfig(up.port));
    try {
      const c = await tcpClient(gw.ports.tcp);
      const chunks: Buffer[] = [];
      c.on('data', (d: Buffer) => chunks.push(d));
      await new Promise<void>((r) => c.once('end', () => r()));
      assert.equal(Buffer.concat(chunks).toString(), 'hello, I am done talking');
      c.end(pattern(50_000));
      assert.equal(await finished, 50_000);
      await closed(c);
    } finally {
      await gw.close(0);
      await up.close();
    }
  });
});

describe('tcp proxy: failures and timeouts', () => {
  it('closes the client when the upstream refuses the connection', async () => {
    const up = await tcpServer(() => {});
    const port = up.port;
    await up.close(); // nothing listens there now
    const gw = await gateway(tcpConfig(port));
    try {
      const c = await tcpClient(gw.ports.tcp);
      c.write('anyone?');
      assert.equal((await readAll(c)).length, 0);
    } finally {
      await gw.close(0);
    }
  });

  it("closes the client when the upstream's connect times out (connectTimeoutMs)", async () => {
    const hole = await blackholePort();
    const gw = await gateway(tcpConfig(hole.port, '', '    connectTimeoutMs: 200'));
    try {
      const c = await tcpClient(gw.ports.tcp);
      c.write('anyone?');
      assert.equal((await readAll(c)).length, 0);
      const series =
        'wasmgate_tcp_downstream_cx_closed_total{listener="tcp",reason="upstream_connect_timeout"}';
      await eventually('the close counted as a connect timeout', () => promValue(metrics(gw), series) === 1);
    } finally {
      await gw.close(0);
      hole.close();
    }
  });

  it('closes both sides of a connection idle for idleTimeoutMs', async () => {
    let upstreamClosed!: Promise<void>;
    const up = await tcpServer((s) => {
      upstreamClosed = closed(s);
    });
    const gw = await gateway(tcpConfig(up.port, '    idleTimeoutMs: 300'));
    try {
      const c = await tcpClient(gw.ports.tcp);
      c.write('one line, then silence');
      await closed(c);
      await upstreamClosed;
    } finally {
      await gw.close(0);
      await up.close();
    }
  });
});

describe('tcp proxy: TLS termination', () => {
  it('terminates TLS with the listener certificate and proxies the plaintext', async () => {
    const dir = tempDir();
    const cert = selfSignedCert(dir);
    let plaintext = '';
    const up = await tcpServer((s) => {
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        plaintext += d;
      });
      s.pipe(s);
    });
    const gw = await gateway(
      tcpConfig(up.port, `    tls: { certFile: ${cert.certFile}, keyFile: ${cert.keyFile} }`),
    );
    try {
      const c = await tcpClient(gw.ports.tcp, true);
      const got = readAll(c);
      c.end('over TLS');
      assert.equal((await got).toString(), 'over TLS');
      assert.equal(plaintext, 'over TLS');
    } finally {
      await gw.close(0);
      await up.close();
    }
  });
});

describe('tcp listener configuration', () => {
  const refused = (yaml: string) => {
    try {
      parseConfig(yaml, 'tcp.yaml', process.cwd());
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.message;
    }
    assert.fail('accepted');
  };
  const base = (listener: string) => `
listeners:
  - name: l
    port: 0
${listener}
clusters:
  - name: up
    endpoints: ["127.0.0.1:1"]
`;

  it('needs a cluster that exists', () => {
    assert.match(
      refused(base('    protocol: tcp')),
      /listeners\[0\]\.tcp: a tcp listener needs tcp\.cluster/,
    );
    assert.match(
      refused(base('    protocol: tcp\n    tcp: { cluster: nope }')),
      /listeners\[0\]\.tcp\.cluster: no cluster named "nope"/,
    );
  });

  it('refuses routes on a tcp listener, and tcp on an HTTP one', () => {
    assert.match(
      refused(base('    protocol: tcp\n    tcp: { cluster: up }\n    routes: [{ cluster: up }]')),
      /listeners\[0\]\.routes: a tcp listener has no routes/,
    );
    assert.match(
      refused(`${base('    tcp: { cluster: up }')}routes: [{ cluster: up }]\n`),
      /listeners\[0\]\.tcp: only a listener with protocol tcp proxies TCP/,
    );
  });

  it('checks the buffer limit', () => {
    assert.match(
      refused(base('    protocol: tcp\n    tcp: { cluster: up, bufferLimitBytes: 10 }')),
      /listeners\.0\.tcp\.bufferLimitBytes|listeners\[0\]\.tcp\.bufferLimitBytes/,
    );
  });
});
