// What the host refuses at load time (no ABI marker, an import it does not provide, no exported memory)
// and how it starts WASI commands and reactors (fixtures/README-hostile.md).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { hostcallSpec } from '../src/abi/hostcalls.js';
import { checkImplementations, hostcallImplementations, IMPLEMENTED } from '../src/host/hostcalls/index.js';
import { Host, hostcallNames, type LogEntry, ModuleError } from '../src/host/index.js';
import { loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

function captureHost() {
  const logs: LogEntry[] = [];
  const host = new Host({ log: (e) => logs.push(e), logLevel: 'trace', timers: 'manual' });
  return { host, logs };
}

async function refusal(name: string): Promise<{ error: ModuleError; logs: LogEntry[]; path: string }> {
  const { host, logs } = captureHost();
  const path = fixture(name);
  const error = await loadFilter({ wasm: path, host, pluginConfig: 'x' }).then(
    () => assert.fail(`${name} should be refused`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ModuleError, `a ModuleError, got ${String(error)}`);
  // Refused before any export ran: no callback, not even the allocator, logged anything.
  assert.deepEqual(logs, []);
  return { error, logs, path };
}

describe('modules the host refuses', () => {
  it('no_abi: no proxy_abi_version_* export', async () => {
    const { error, path } = await refusal('no_abi');
    assert.equal(error.source, path);
    assert.equal(
      error.message,
      `${path}: missing Proxy-Wasm ABI version: the module exports none of ` +
        'proxy_abi_version_0_2_1, proxy_abi_version_0_2_0, proxy_abi_version_0_1_0',
    );
  });

  it('unknown_import: names env.proxy_frobnicate (the host checks the imports, not V8 at link time)', async () => {
    const { error, path } = await refusal('unknown_import');
    assert.equal(error.message, `${path}: unknown import: env.proxy_frobnicate`);
    assert.ok(!(error instanceof WebAssembly.LinkError));
  });

  it('wrong_abi_import: a host function of another ABI version is refused, as Envoy does not link it', async () => {
    const { error, path } = await refusal('wrong_abi_import');
    assert.equal(
      error.message,
      `${path}: import of another ABI version: env.proxy_clear_route_cache (ABI 0.1.0 only); ` +
        'the module is ABI 0.2.1, and Envoy does not link it for it either',
    );
  });

  it('bad_import_signature: an import declared with other parameters than the host function is refused', async () => {
    const { error, path } = await refusal('bad_import_signature');
    assert.equal(
      error.message,
      `${path}: signature mismatch (Envoy refuses to link the module too): import env.proxy_log is declared ` +
        '(func (param i32 i32) (result i32)), the host function is (func (param i32 i32 i32) (result i32))',
    );
  });

  it('bad_import_types: an env import with the right count but another value type (i32 for i64) is refused', async () => {
    const { error, path } = await refusal('bad_import_types');
    assert.equal(
      error.message,
      `${path}: signature mismatch (Envoy refuses to link the module too): import env.proxy_increment_metric ` +
        'is declared (func (param i32 i32) (result i32)), the host function is (func (param i32 i64) (result i32))',
    );
  });

  it("bad_wasi_import: a WASI import whose signature is not preview1's is refused, as Envoy refuses it", async () => {
    const { error, path } = await refusal('bad_wasi_import');
    assert.equal(
      error.message,
      `${path}: signature mismatch (Envoy refuses to link the module too): import wasi_snapshot_preview1.fd_seek ` +
        'is declared (func (param i32 i32 i32 i32) (result i32)), the host function is ' +
        '(func (param i32 i64 i32 i32) (result i32))',
    );
  });

  it('bad_export_signature: a callback with other parameters than the ABI says is refused', async () => {
    const { error, path } = await refusal('bad_export_signature');
    assert.equal(
      error.message,
      `${path}: signature mismatch (Envoy refuses to link the module too): export proxy_on_request_headers ` +
        'is (func (param i32 i32) (result i32)), ABI 0.2.1 wants (func (param i32 i32 i32) (result i32))',
    );
  });

  it('missing_memory: memory is not exported', async () => {
    const { error, path } = await refusal('missing_memory');
    assert.equal(error.message, `${path}: the module does not export its linear memory as "memory"`);
  });

  it('refuses at compile time, before any instance exists, and names the source of bytes', async () => {
    const { host } = captureHost();
    for (const name of ['no_abi', 'unknown_import', 'missing_memory']) {
      const bytes = new Uint8Array(readFileSync(fixture(name)));
      await assert.rejects(host.compile(bytes, `oci://registry/${name}`), (e: unknown) => {
        assert.ok(e instanceof ModuleError);
        assert.equal(e.source, `oci://registry/${name}`);
        assert.ok(e.message.startsWith(`oci://registry/${name}: `));
        return true;
      });
    }
  });

  it('a refused module is not cached: a second load is refused again', async () => {
    const { host } = captureHost();
    const bytes = new Uint8Array(readFileSync(fixture('unknown_import')));
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        loadFilter({ wasm: bytes, host }),
        /<bytes>: unknown import: env\.proxy_frobnicate/,
      );
    }
  });
});

describe('WASI start functions', () => {
  it('wasi_start: a command gets _start called once, before proxy_on_configure', async () => {
    const h = await loadFilter({ wasm: fixture('wasi_start') });
    assert.deepEqual(
      h.logs.map((l) => [l.level, l.source, l.message]),
      [
        ['info', 'filter', 'wasi_start: _start ran'],
        ['info', 'filter', 'wasi_start: _start count 1'],
      ],
    );
    // _start logged before any context existed; the host accepted the hostcall.
    assert.equal(h.logs[0].contextId, undefined);
    assert.equal(h.logs[1].contextId, h.plugin.root.id);
    assert.equal(h.state, 'ready');

    const s = h.newStream();
    assert.equal(s.sendRequestHeaders({ ':path': '/' }), 0);
    s.complete();
  });

  it('init_main: a reactor gets _initialize, then main(0, 0), and never _start', async () => {
    const h = await loadFilter({ wasm: fixture('init_main') });
    assert.deepEqual(h.logMessages(), ['init_main: initialize=1 main=2 start=0']);
    assert.equal(h.state, 'ready');

    const s = h.newStream();
    assert.equal(s.sendRequestHeaders({ ':path': '/' }), 0);
    s.complete();
  });

  it('each new VM runs its start functions again (own instance, own globals)', async () => {
    const { host, logs } = captureHost();
    await loadFilter({ wasm: fixture('wasi_start'), host, name: 'a' });
    await loadFilter({ wasm: fixture('wasi_start'), host, name: 'b' });
    assert.deepEqual(
      logs.map((l) => l.message),
      [
        'wasi_start: _start ran',
        'wasi_start: _start count 1',
        'wasi_start: _start ran',
        'wasi_start: _start count 1',
      ],
    );
  });
});

describe('host function signatures', () => {
  // Parameter counts as proxy-wasm-cpp-host declares them (exports.h); every one returns a status word. The
  // import check compares modules against these, so an implementation's arity must not drift from them.
  const CPP_HOST: Record<string, number> = {
    proxy_log: 3,
    proxy_get_log_level: 1,
    proxy_get_current_time_nanoseconds: 1,
    proxy_set_tick_period_milliseconds: 1,
    proxy_get_buffer_bytes: 5,
    proxy_set_buffer_bytes: 5,
    proxy_get_buffer_status: 3,
    proxy_get_configuration: 2,
    proxy_get_header_map_pairs: 3,
    proxy_set_header_map_pairs: 3,
    proxy_get_header_map_size: 2,
    proxy_get_header_map_value: 5,
    proxy_add_header_map_value: 5,
    proxy_replace_header_map_value: 5,
    proxy_remove_header_map_value: 3,
    proxy_continue_stream: 1,
    proxy_continue_request: 0,
    proxy_continue_response: 0,
    proxy_close_stream: 1,
    proxy_send_local_response: 8,
    proxy_clear_route_cache: 0,
    proxy_done: 0,
    proxy_set_effective_context: 1,
    proxy_get_status: 3,
    proxy_http_call: 10,
    proxy_grpc_call: 12,
    proxy_grpc_stream: 9,
    proxy_grpc_send: 4,
    proxy_grpc_cancel: 1,
    proxy_grpc_close: 1,
    proxy_get_shared_data: 5,
    proxy_set_shared_data: 5,
    proxy_register_shared_queue: 3,
    proxy_resolve_shared_queue: 5,
    proxy_enqueue_shared_queue: 3,
    proxy_dequeue_shared_queue: 3,
    proxy_define_metric: 4,
    proxy_increment_metric: 2,
    proxy_record_metric: 2,
    proxy_get_metric: 2,
    proxy_get_property: 4,
    proxy_set_property: 4,
    proxy_call_foreign_function: 6,
  };

  const envSignature = (name: string) => {
    const spec = hostcallSpec('env', name);
    return spec && { params: spec.params.length, results: spec.results.length };
  };

  it("every env host function has cpp-host's signature", () => {
    for (const name of hostcallNames().env) {
      if (!name.startsWith('proxy_')) continue;
      assert.deepEqual(envSignature(name), { params: CPP_HOST[name], results: 1 }, name);
    }
    assert.deepEqual(envSignature('emscripten_notify_memory_growth'), { params: 1, results: 0 });
    assert.deepEqual(envSignature('pthread_equal'), { params: 2, results: 1 });
  });

  it('every implementation has a table entry and every table entry an implementation', () => {
    assert.deepEqual([...IMPLEMENTED.env].sort(), hostcallNames().env);
    assert.deepEqual([...IMPLEMENTED.wasi].sort(), hostcallNames().wasi);
  });

  it('an implementation without a table entry (or the reverse) is refused when the host loads', () => {
    const table = hostcallNames();
    assert.doesNotThrow(() => checkImplementations(table));
    assert.throws(() => checkImplementations({ env: [...table.env, 'proxy_frobnicate'], wasi: table.wasi }), {
      message:
        'hostcalls (src/abi/hostcalls.ts): env.proxy_frobnicate is implemented but has no entry in the hostcall table',
    });
    assert.throws(
      () => checkImplementations({ env: table.env, wasi: table.wasi.filter((n) => n !== 'fd_write') }),
      {
        message:
          'hostcalls (src/abi/hostcalls.ts): wasi.fd_write is in the hostcall table but has no implementation',
      },
    );
    assert.throws(() => checkImplementations({ env: [...table.env, 'proxy_log'], wasi: table.wasi }), {
      message: 'hostcalls (src/abi/hostcalls.ts): env.proxy_log is implemented twice',
    });
  });

  it("every implementation takes its table entry's parameters (the trace and the guard pass that many)", () => {
    const impls = hostcallImplementations(undefined as never);
    assert.equal(impls.size, hostcallNames().env.length + hostcallNames().wasi.length);
    for (const [spec, fn] of impls) {
      // An env implementation declares each parameter; WASI's stubs may ignore trailing ones.
      if (spec.module === 'env') assert.equal(fn.length, spec.params.length, spec.name);
      else assert.ok(fn.length <= spec.params.length, spec.name);
    }
  });
});
