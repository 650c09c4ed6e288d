// The host-memory budget (limits.hostMemoryMiB): shared data, queue items, metric definitions and callouts in
// flight a filter makes the host keep are counted per vm_id; past the budget those calls answer
// INTERNAL_FAILURE, the filter and the proxy go on, and what is released (a callout answered, an item
// dequeued) can be used again. Through the harness and through `wasmgate run`.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Status } from '../src/abi/constants.js';
import { loadFilter } from '../src/testing/index.js';
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

const HOARD = fixture('host_hoard');
const MiB = 1048576;

type Hoard = Record<'shared' | 'queue' | 'metric' | 'call', number>;

/** The statuses the probe reported in its x-hoard header. */
function hoardStatuses(header: string | undefined): Hoard {
  assert.ok(header, 'the filter added x-hoard');
  const out: Record<string, number> = {};
  for (const field of header.split(' ')) {
    const [k, v] = field.split('=');
    out[k] = Number(v);
  }
  return out as Hoard;
}

describe('host-memory budget, in the harness', () => {
  it('each kind of host memory is refused with INTERNAL_FAILURE past the budget, and the stream goes on', async () => {
    const h = await loadFilter({ wasm: HOARD, pluginConfig: 'hoard', limits: { hostMemoryMiB: 1 } });
    const account = h.host.hostMemory.account(h.plugin.vmId);
    assert.equal(account.limitBytes, MiB);
    const seen: Hoard[] = [];
    for (let i = 0; i < 80; i++) {
      const s = h.newStream();
      s.sendRequestHeaders({ ':method': 'GET', ':path': `/${i}`, ':authority': 'a' });
      seen.push(hoardStatuses(s.requestHeaders['x-hoard']));
      assert.ok(account.used <= MiB, `${account.used} bytes counted, over the budget`);
    }
    assert.deepEqual(seen[0], { shared: Status.Ok, queue: Status.Ok, metric: Status.Ok, call: Status.Ok });
    for (const kind of ['shared', 'queue', 'metric', 'call'] as const)
      assert.ok(
        seen.some((x) => x[kind] === Status.InternalFailure),
        `${kind} was never refused: ${JSON.stringify(seen.map((x) => x[kind]))}`,
      );
    // Nothing else than OK or INTERNAL_FAILURE: a refusal is not a bad argument nor a trap.
    for (const x of seen)
      for (const st of Object.values(x)) assert.ok(st === Status.Ok || st === Status.InternalFailure);
    assert.equal(h.plugin.state, 'ready');
    assert.equal(h.plugin.counters.failures, 0);
    assert.ok(h.plugin.counters.hostMemoryLimitHits >= 4);
    const warns = h.logs.filter((l) => l.level === 'warn' && /host memory limit/.test(l.message));
    assert.equal(warns.length, 1, 'reported once, then counted');
    assert.match(warns[0].message, /refused \(INTERNAL_FAILURE\).*limit 1048576 \(limits\.hostMemoryMiB\)/);

    // Answering the callouts releases what they held: the next callout fits again.
    const before = account.used;
    const pending = h.httpCalls.length;
    assert.ok(pending > 0);
    for (const call of [...h.httpCalls]) call.respond({ headers: { ':status': '200' } });
    assert.ok(account.used < before, 'answered callouts are no longer counted');
    const s = h.newStream();
    s.sendRequestHeaders({ ':method': 'GET', ':path': '/again', ':authority': 'a' });
    assert.equal(hoardStatuses(s.requestHeaders['x-hoard']).call, Status.Ok);
  });

  it('a queue item is counted until it is dequeued, shared data until it is replaced by a smaller value', async () => {
    const h = await loadFilter({ wasm: HOARD, pluginConfig: 'hoard', limits: { hostMemoryMiB: 0 } });
    const account = h.host.hostMemory.account(h.plugin.vmId);
    assert.equal(account.limitBytes, 0, '0: no limit');
    h.newStream().sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a' });
    const withItem = account.used;
    const queue = h.host.queues.list().find((q) => q.name === 'hoard');
    assert.equal(queue?.length, 1);
    assert.equal(h.host.queues.dequeue(queue?.id ?? 0).status, Status.Ok);
    assert.equal(withItem - account.used, 256 * 1024 + 16);
    const key = 'hoard-0';
    assert.equal(h.host.sharedData.set(h.plugin.vmId, key, new Uint8Array(10)), Status.Ok);
    assert.equal(withItem - account.used, 256 * 1024 + 16 + 256 * 1024 - 10);
  });

  it("the harness's own writes count too, and throw when they do not fit", async () => {
    const h = await loadFilter({ wasm: HOARD, pluginConfig: 'hoard', limits: { hostMemoryMiB: 1 } });
    h.setSharedData('small', 'x');
    assert.throws(
      () => h.setSharedData('huge', new Uint8Array(2 * MiB)),
      /shared data huge not set: INTERNAL_FAILURE \(past limits\.hostMemoryMiB\)/,
    );
    h.newStream().sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'a' });
    assert.throws(() => h.enqueue('hoard', new Uint8Array(MiB)), /not enqueued on hoard: INTERNAL_FAILURE/);
  });

  it('the budget is a limit like the others: validated, 0 turns it off, the default is 32 MiB', async () => {
    const h = await loadFilter({ wasm: HOARD });
    assert.equal(h.plugin.limits.hostMemoryMiB, 32);
    await assert.rejects(
      loadFilter({ wasm: HOARD, limits: { hostMemoryMiB: -1 } }),
      /limits\.hostMemoryMiB must be a number ≥ 0/,
    );
  });
});

describe('host-memory budget, through the proxy', () => {
  let up: Upstream;
  let proxy: ProxyProcess;

  before(async () => {
    up = await startUpstream();
    const hoard = wasmFilter('hoard', HOARD, { configuration: 'hoard' }) as { wasm: Record<string, unknown> };
    proxy = await startProxy(
      basicConfig(up.port, [{ wasm: { ...hoard.wasm, limits: { hostMemoryMiB: 1 } } }], {
        accessLog: { enabled: false },
      }),
    );
  });

  after(async () => {
    await shutdown(proxy, up);
  });

  it('refuses past the budget, keeps serving, and counts it in /plugins and the metrics', async () => {
    for (let i = 0; i < 40; i++) assert.equal((await h1(proxy.port('main'), `/r${i}`)).status, 200);
    const seen = up.received
      .filter((r) => r.method === 'GET')
      .map((r) => hoardStatuses(r.headers['x-hoard'] as string));
    assert.equal(seen.length, 40);
    assert.deepEqual(seen[0], { shared: 0, queue: 0, metric: 0, call: 0 });
    assert.ok(seen.some((x) => x.shared === Status.InternalFailure && x.queue === Status.InternalFailure));
    const plugins = JSON.parse((await adminGet(proxy, '/plugins')).text) as Array<Record<string, unknown>>;
    const p = plugins.find((x) => x.name === 'hoard');
    assert.ok(p, 'the plugin is listed');
    assert.equal((p.limits as Record<string, number>).hostMemoryMiB, 1);
    assert.equal(p?.state, 'ready');
    assert.ok((p?.host_memory_limit_hits as number) >= 2);
    const used = p?.host_memory_bytes as number;
    assert.ok(used > 512 * 1024 && used <= MiB, `host_memory_bytes ${used}`);
    const prom = (await adminGet(proxy, '/stats/prometheus')).text;
    assert.ok(
      (promValue(prom, 'wasmgate_wasm_host_memory_limit_hits_total{plugin="hoard"}') ?? 0) >= 2,
      prom,
    );
    assert.ok((promValue(prom, 'wasmgate_wasm_host_memory_bytes{plugin="hoard"}') ?? 0) > 0);
  });
});
