// The leak guard through `wasmgate run`, with two plugins sharing one VM (same vm_id) that leaks on every
// request (fixtures/c/leaky_filter.c): past limits.leakMemoryMiB the whole VM is replaced for both, a long
// request in flight on the old VM completes through it, shared data survives, and the replacement is
// counted (/plugins, /stats/prometheus) and logged.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { fixture } from './support/fixtures.js';
import {
  adminGet,
  basicConfig,
  h1,
  type ProxyProcess,
  promValue,
  shutdown,
  startProxy,
  startUpstream,
  type Upstream,
  wasmFilter,
} from './support/proxy.js';

const LEAKY = fixture('leaky_filter');

interface PluginInfo {
  name: string;
  vm_instance: number;
  leak_replacements: number;
  memory_bytes: number;
  cost: { callbacks: Record<string, { calls: number } | undefined> };
}

/** A request whose body is sent only when `finish` is called; its response once it came. */
function slowRequest(port: number): {
  finish: (body: string) => void;
  response: Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>;
} {
  const req = http.request({
    port,
    method: 'POST',
    path: '/long',
    headers: { 'content-length': '10', connection: 'close' },
  });
  const response = new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
    },
  );
  req.flushHeaders();
  return { finish: (body) => req.end(body), response };
}

describe('leak guard, through the proxy', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    const limits = { leakMemoryMiB: 3 };
    const a = wasmFilter('leaky-a', LEAKY, { vmId: 'leaky', configuration: String(128 * 1024) }) as {
      wasm: Record<string, unknown>;
    };
    const b = wasmFilter('leaky-b', LEAKY, { vmId: 'leaky', configuration: String(128 * 1024) }) as {
      wasm: Record<string, unknown>;
    };
    proxy = await startProxy(
      basicConfig(up.port, [{ wasm: { ...a.wasm, limits } }, { wasm: { ...b.wasm, limits } }], {
        accessLog: { enabled: false },
      }),
    );
  });

  after(async () => {
    await shutdown(proxy, up);
  });

  const plugins = async () => JSON.parse((await adminGet(proxy, '/plugins')).text) as PluginInfo[];

  it('replaces the shared VM for both plugins; the long request finishes on the old one', async () => {
    const start = await plugins();
    assert.equal(start.length, 2);
    assert.equal(start[0].vm_instance, start[1].vm_instance, 'the two plugins share one VM');

    const long = slowRequest(proxy.port('main'));
    // Its request headers went through both filters on the first VM.
    for (let i = 0; i < 100; i++) {
      const cost = (await plugins())[0].cost.callbacks.on_request_headers;
      if (cost && cost.calls >= 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    let replacedAt = -1;
    const vms: string[] = [];
    for (let i = 0; i < 60 && replacedAt < 0; i++) {
      const r = await h1(proxy.port('main'), `/r${i}`);
      assert.equal(r.status, 200);
      vms.push(String(r.headers['x-leaky-vm']));
      if ((await plugins()).some((p) => p.leak_replacements > 0)) replacedAt = i;
    }
    assert.ok(replacedAt > 0, `replaced after ${replacedAt + 1} requests`);
    // Each request leaks 128 KiB in each plugin, so 256 KiB a request: 3 MiB takes about a dozen. The
    // filter's generation is the count of proxy_on_vm_start calls, kept in shared data: both plugins' roots
    // started in the first VM (1, 2), both again in the fresh one (3, 4).
    assert.ok(
      vms.slice(0, -1).every((v) => v === '2, 2'),
      vms.join(' | '),
    );
    assert.equal(vms.at(-1), '4, 4');

    const now = await plugins();
    assert.deepEqual(
      now.map((p) => p.leak_replacements),
      [1, 1],
    );
    assert.equal(now[0].vm_instance, now[1].vm_instance, 'still one VM for both');
    assert.notEqual(now[0].vm_instance, start[0].vm_instance);
    assert.ok(now[0].memory_bytes < 3 * 1048576);

    // The long request: its body goes through the old VM's filters, intact.
    long.finish('0123456789');
    const done = await long.response;
    assert.equal(done.status, 200);
    assert.equal(done.headers['x-leaky-vm'], '2, 2');
    const upstreamLong = up.received.find((r) => r.url === '/long');
    assert.equal(upstreamLong?.body, '0123456789');
    assert.equal(upstreamLong?.headers['x-leaky-vm'], '2, 2');

    // Later requests: the fresh VM.
    const next = await h1(proxy.port('main'), '/next');
    assert.equal(next.headers['x-leaky-vm'], '4, 4');

    const prom = (await adminGet(proxy, '/stats/prometheus')).text;
    assert.equal(promValue(prom, 'wasmgate_wasm_vm_leak_replacements_total{plugin="leaky-a"}'), 1);
    assert.equal(promValue(prom, 'wasmgate_wasm_vm_leak_replacements_total{plugin="leaky-b"}'), 1);
    const logged = proxy.logs().filter((l) => /leak guard: VM replaced/.test(l.msg));
    assert.equal(logged.length, 2, 'one line per plugin');
    assert.match(logged[0].msg, /past limits\.leakMemoryMiB \(3 MiB\)/);
  });
});
