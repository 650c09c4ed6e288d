// hostile.wasm (fixtures/wat/hostile.wat, described in fixtures/README-hostile.md): a plugin that
// misbehaves on purpose. Bad pointers must come back as statuses, traps must be contained, logged with
// a backtrace and answered by the plugin's failure policy, and the host must stay up.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Host, type LogEntry, PluginStartError, type WasmVm } from '../src/host/index.js';
import { type FilterHarness, loadFilter } from '../src/testing/index.js';
import { fixture } from './support/fixtures.js';

const HOSTILE = fixture('hostile');
const REQUEST = {
  ':method': 'POST',
  ':path': '/upload',
  ':authority': 'example.com',
  'content-type': 'text/plain',
};
const RESPONSE = { ':status': '200', 'content-type': 'text/plain' };

type Policy = 'FAIL_CLOSE' | 'FAIL_OPEN' | 'FAIL_RELOAD';
const POLICIES: Policy[] = ['FAIL_CLOSE', 'FAIL_OPEN', 'FAIL_RELOAD'];

/** What the plugin itself logged at INFO (the WAT fixtures log nothing else). */
function filterLines(logs: readonly LogEntry[]): string[] {
  return logs.filter((l) => l.source === 'filter' && l.level === 'info').map((l) => l.message);
}

function hostErrors(logs: readonly LogEntry[]): LogEntry[] {
  return logs.filter((l) => l.source === 'host' && l.level === 'error');
}

/** Records the name of every guest export the host calls on `vm` from now on. */
function spyGuestCalls(vm: WasmVm): string[] {
  const calls: string[] = [];
  const original = vm.call.bind(vm);
  vm.call = ((ctx, name, ...args) => {
    calls.push(name);
    return original(ctx, name, ...args);
  }) as WasmVm['call'];
  return calls;
}

/** One whole stream with a request body and a response body; returns what each callback answered. */
function runStream(h: FilterHarness) {
  const s = h.newStream();
  const results = {
    requestHeaders: s.sendRequestHeaders(REQUEST),
    requestBody: s.sendRequestBody('hello', { endOfStream: true }),
    responseHeaders: s.sendResponseHeaders(RESPONSE),
    responseBody: s.sendResponseBody('world', { endOfStream: true }),
  };
  s.complete();
  return { s, results };
}

// ---- mode b: the exact lines of fixtures/README-hostile.md ("Mode `b`: exact log lines") ----

const HEADER_SWEEP = [
  'proxy_log[oob] -> 6',
  'proxy_log[len] -> 6',
  'proxy_get_log_level[oob] -> 6',
  'proxy_get_log_level[edge] -> 6',
  'proxy_get_current_time_nanoseconds[oob] -> 6',
  'proxy_get_current_time_nanoseconds[edge] -> 6',
  'proxy_get_header_map_size[oob] -> 6',
  'proxy_get_header_map_size[edge] -> 6',
  'proxy_get_header_map_pairs[oob] -> 6',
  'proxy_get_header_map_pairs[edge] -> 6',
  'proxy_set_header_map_pairs[oob] -> 6',
  'proxy_set_header_map_pairs[len] -> 6',
  'proxy_get_header_map_value[oob] -> 6',
  'proxy_get_header_map_value[len] -> 6',
  'proxy_get_header_map_value[ret] -> 6',
  'proxy_add_header_map_value[oob] -> 6',
  'proxy_add_header_map_value[len] -> 6',
  'proxy_replace_header_map_value[oob] -> 6',
  'proxy_replace_header_map_value[len] -> 6',
  'proxy_remove_header_map_value[oob] -> 6',
  'proxy_remove_header_map_value[len] -> 6',
  'proxy_get_status[oob] -> 6',
  'proxy_get_status[edge] -> 6',
  'proxy_send_local_response[oob] -> 6',
  'proxy_send_local_response[len] -> 6',
  'proxy_http_call[oob] -> 6',
  'proxy_http_call[len] -> 6',
  'proxy_grpc_call[oob] -> 6',
  'proxy_grpc_call[len] -> 6',
  'proxy_grpc_stream[oob] -> 6',
  'proxy_grpc_stream[len] -> 6',
  'proxy_grpc_send[oob] -> 6',
  'proxy_grpc_send[len] -> 6',
  'proxy_set_shared_data[oob] -> 6',
  'proxy_set_shared_data[len] -> 6',
  'proxy_set_shared_data[setup] -> 0',
  'proxy_get_shared_data[oob] -> 6',
  'proxy_get_shared_data[len] -> 6',
  'proxy_get_shared_data[ret] -> 6',
  'proxy_register_shared_queue[oob] -> 6',
  'proxy_register_shared_queue[len] -> 6',
  'proxy_register_shared_queue[ret] -> 6',
  'proxy_register_shared_queue[setup] -> 0',
  'proxy_resolve_shared_queue[oob] -> 6',
  'proxy_resolve_shared_queue[len] -> 6',
  'proxy_enqueue_shared_queue[oob] -> 6',
  'proxy_enqueue_shared_queue[len] -> 6',
  'proxy_enqueue_shared_queue[setup] -> 0',
  'proxy_enqueue_shared_queue[setup] -> 0',
  'proxy_dequeue_shared_queue[oob] -> 6',
  'proxy_dequeue_shared_queue[edge] -> 6',
  'proxy_define_metric[oob] -> 6',
  'proxy_define_metric[len] -> 6',
  'proxy_define_metric[ret] -> 6',
  'proxy_define_metric[setup] -> 0',
  'proxy_get_metric[oob] -> 6',
  'proxy_get_metric[edge] -> 6',
  'proxy_get_property[oob] -> 6',
  'proxy_get_property[len] -> 6',
  'proxy_get_property[ret] -> 6',
  'proxy_set_property[oob] -> 6',
  'proxy_set_property[len] -> 6',
  'proxy_call_foreign_function[oob] -> 6',
  'proxy_call_foreign_function[len] -> 6',
  'hostile: bad-pointer sweep done',
];

const BODY_SWEEP = [
  'proxy_get_buffer_bytes[oob] -> 6',
  'proxy_get_buffer_bytes[edge] -> 6',
  'proxy_get_buffer_status[oob] -> 6',
  'proxy_get_buffer_status[edge] -> 6',
  'proxy_set_buffer_bytes[oob] -> 6',
  'proxy_set_buffer_bytes[len] -> 6',
  'hostile: body sweep done',
];

const WASI_SWEEP = [
  'wasi.fd_write[oob] -> 21',
  'wasi.fd_write[iov] -> 21',
  'wasi.fd_write[ret] -> 21',
  'wasi.clock_time_get[oob] -> 21',
  'wasi.clock_time_get[edge] -> 21',
  'wasi.random_get[oob] -> 21',
  'wasi.random_get[edge] -> 21',
  'wasi.environ_sizes_get[oob] -> 21',
  'wasi.args_sizes_get[oob] -> 21',
  'hostile: wasi sweep done',
];

describe('hostile.wasm mode b: bad pointers in every hostcall', () => {
  it('the expected list matches the README: 59 lines expecting 6 and 5 [setup] lines expecting 0', () => {
    const statusLines = HEADER_SWEEP.filter((l) => l.includes(' -> '));
    assert.equal(statusLines.length, 64);
    assert.equal(statusLines.filter((l) => l.endsWith(' -> 6')).length, 59);
    assert.deepEqual(
      statusLines.filter((l) => l.endsWith(' -> 0')),
      statusLines.filter((l) => l.includes('[setup]')),
    );
  });

  it('answers INVALID_MEMORY_ACCESS (6) to each call, logs nothing of its own and lets the request through', async () => {
    const h = await loadFilter({ wasm: HOSTILE, pluginConfig: 'b' });
    assert.deepEqual(filterLines(h.logs), ['hostile mode: b']);
    h.clearLogs();

    const s = h.newStream();
    assert.equal(s.sendRequestHeaders(REQUEST), 0);
    assert.deepEqual(filterLines(h.logs), HEADER_SWEEP);
    h.clearLogs();

    assert.equal(s.sendRequestBody('hello', { endOfStream: true }), 0);
    assert.deepEqual(filterLines(h.logs), BODY_SWEEP);

    assert.equal(s.sendResponseHeaders(RESPONSE), 0);
    s.complete();

    // No hostcall threw into the host: nothing was reported, the VM is healthy.
    assert.deepEqual(
      h.logs.filter((l) => l.source === 'host'),
      [],
    );
    assert.equal(h.state, 'ready');
    assert.equal(h.plugin.counters.failures, 0);
    // None of the failed calls had an effect on the stream.
    assert.equal(s.localResponse, undefined);
    assert.deepEqual(s.requestHeaders, REQUEST);
    assert.equal(s.requestBody, 'hello');
    assert.deepEqual(s.responseHeaders, RESPONSE);
    assert.equal(h.httpCalls.length, 0);
    assert.equal(h.grpcCalls.length, 0);
  });

  it('keeps serving: every later stream sweeps again with the same answers', async () => {
    const h = await loadFilter({ wasm: HOSTILE, pluginConfig: 'b' });
    const memorySize = h.plugin.vm.memory.size;
    for (let i = 1; i <= 3; i++) {
      h.clearLogs();
      const { s, results } = runStream(h);
      assert.deepEqual(results, { requestHeaders: 0, requestBody: 0, responseHeaders: 0, responseBody: 0 });
      assert.deepEqual(filterLines(h.logs), [...HEADER_SWEEP, ...BODY_SWEEP], `stream ${i}`);
      assert.equal(s.localResponse, undefined);
      assert.equal(s.responseBody, 'world');
      // Side effects of the [setup] calls only. Both dequeues failed before touching the queue, so
      // each request leaves its two items behind.
      assert.equal(h.sharedData('x-hostile'), 'v');
      assert.equal(h.queueLength('hostile_queue'), 2 * i);
      assert.equal(h.metric('hostile_metric'), 0n);
    }
    assert.equal(h.state, 'ready');
    assert.equal(h.plugin.vm.memory.size, memorySize);
    assert.deepEqual(
      h.logs.filter((l) => l.source === 'host'),
      [],
    );
  });
});

describe('hostile.wasm mode w: bad pointers in WASI calls', () => {
  it('answers errno 21 (FAULT) to each call and the request continues', async () => {
    const h = await loadFilter({ wasm: HOSTILE, pluginConfig: 'w' });
    h.clearLogs();
    const { s, results } = runStream(h);
    assert.deepEqual(results, { requestHeaders: 0, requestBody: 0, responseHeaders: 0, responseBody: 0 });
    // fd_write[ret] has a valid iovec ("v"); the README allows a host to print it before it notices
    // the bad nwritten pointer.
    assert.deepEqual(
      filterLines(h.logs).filter((l) => l !== 'v'),
      WASI_SWEEP,
    );
    assert.deepEqual(hostErrors(h.logs), []);
    assert.equal(s.localResponse, undefined);
    assert.equal(h.state, 'ready');
  });
});

// ---- traps ----

type Phase = 'requestHeaders' | 'requestBody' | 'responseHeaders' | 'complete';

interface TrapCase {
  mode: string;
  what: string;
  callback: string;
  /** The innermost wasm frame of the backtrace. */
  fn: string;
  phase: Phase;
  cause: RegExp;
}

const TRAPS: TrapCase[] = [
  {
    mode: 't',
    what: 'unreachable in proxy_on_request_headers',
    callback: 'proxy_on_request_headers',
    fn: 'explode_in_request_headers',
    phase: 'requestHeaders',
    cause: /unreachable/,
  },
  {
    mode: 'r',
    what: 'unreachable in proxy_on_response_headers',
    callback: 'proxy_on_response_headers',
    fn: 'explode_in_response_headers',
    phase: 'responseHeaders',
    cause: /unreachable/,
  },
  {
    mode: 'q',
    what: 'unreachable in proxy_on_request_body',
    callback: 'proxy_on_request_body',
    fn: 'explode_in_request_body',
    phase: 'requestBody',
    cause: /unreachable/,
  },
  {
    mode: 'l',
    what: 'unreachable in proxy_on_log',
    callback: 'proxy_on_log',
    fn: 'explode_in_log',
    phase: 'complete',
    cause: /unreachable/,
  },
  {
    mode: 'd',
    what: 'unreachable in proxy_on_done',
    callback: 'proxy_on_done',
    fn: 'explode_in_done',
    phase: 'complete',
    cause: /unreachable/,
  },
  {
    mode: 'c',
    what: 'stack overflow (RangeError) in proxy_on_request_headers',
    callback: 'proxy_on_request_headers',
    fn: 'recurse_forever',
    phase: 'requestHeaders',
    cause: /Maximum call stack size exceeded/,
  },
  {
    mode: 'x',
    what: 'proc_exit(3) in proxy_on_request_headers',
    callback: 'proxy_on_request_headers',
    fn: 'exit_via_wasi',
    phase: 'requestHeaders',
    cause: /proc_exit\(3\)/,
  },
];

/** The trap report: one error entry from the host, about the stream's context, with the wasm backtrace. */
function assertTrapReported(h: FilterHarness, c: TrapCase, policy: Policy, contextId: number): void {
  const errors = hostErrors(h.logs);
  assert.equal(errors.length, 1, `one error entry, got ${JSON.stringify(errors)}`);
  const [e] = errors;
  assert.equal(e.plugin, 'hostile');
  assert.equal(e.contextId, contextId);
  assert.match(e.message, new RegExp(`\\b${c.callback}\\b`));
  assert.match(e.message, c.cause);
  assert.match(e.message, new RegExp(policy));
  const bt = e.backtrace ?? [];
  assert.ok(bt.length > 0, 'a backtrace');
  assert.match(bt[0], new RegExp(`^${c.fn} \\(wasm-function\\[\\d+\\]:0x[0-9a-f]+\\)$`));
  if (c.mode === 'c') {
    // Runaway recursion: the frames V8 kept are all the recursing function.
    assert.ok(bt.length >= 5);
    for (const frame of bt) assert.match(frame, /^recurse_forever /);
  } else {
    assert.match(bt[1], new RegExp(`^${c.callback} `));
  }
  if (c.mode === 'x') assert.ok(!filterLines(h.logs).includes('hostile: proc_exit returned'));
}

describe('hostile.wasm traps', () => {
  for (const c of TRAPS) {
    describe(`mode ${c.mode}: ${c.what}`, () => {
      for (const policy of POLICIES) {
        it(`${policy}: contains the trap, reports it with a backtrace and applies the policy`, async () => {
          const h = await loadFilter({ wasm: HOSTILE, pluginConfig: c.mode, failStrategy: policy });
          assert.deepEqual(filterLines(h.logs), [`hostile mode: ${c.mode}`]);
          h.clearLogs();
          const failedVm = h.plugin.vm;

          const { s, results } = runStream(h);
          assertTrapReported(h, c, policy, s.context.id);
          assert.equal(h.state, 'failed');
          assert.equal(h.plugin.counters.failures, 1);
          // The context is gone from the VM, even when proxy_on_done / proxy_on_log trapped.
          assert.deepEqual([...failedVm.contexts.keys()], [h.plugin.root.id]);

          if (policy === 'FAIL_OPEN' || c.phase === 'complete') {
            // Fail-open (or a trap after the response was sent): the stream goes on without the filter.
            assert.deepEqual(results, {
              requestHeaders: 0,
              requestBody: 0,
              responseHeaders: 0,
              responseBody: 0,
            });
            assert.equal(s.localResponse, undefined);
            assert.equal(s.requestBody, 'hello');
            assert.deepEqual(s.responseHeaders, RESPONSE);
            assert.equal(s.responseBody, 'world');
          } else {
            // Fail-close: the trapping callback stops the stream with a local 503.
            assert.equal(results[c.phase], 1);
            for (const [phase, r] of Object.entries(results))
              if (phase !== c.phase) assert.equal(r, 0, phase);
            assert.equal(s.localResponse?.status, 503);
            assert.equal(s.localResponse?.details, 'wasm_fail_stream');
          }

          // The next stream.
          h.clearLogs();
          if (policy === 'FAIL_RELOAD') {
            await h.plugin.reload();
            assert.equal(h.plugin.counters.reloads, 1);
            assert.notEqual(h.plugin.vm, failedVm);
            assert.equal(h.state, 'ready');
            // The fresh VM was started and configured from scratch.
            assert.deepEqual(filterLines(h.logs), [`hostile mode: ${c.mode}`]);
            h.clearLogs();
            const calls = spyGuestCalls(h.plugin.vm);
            const next = runStream(h);
            assert.ok(calls.includes('proxy_on_context_create'), 'the fresh VM serves the next stream');
            if (c.phase === 'requestHeaders') {
              // Same configuration, same trap: reported again and failed closed again.
              assert.equal(next.results.requestHeaders, 1);
              assert.equal(next.s.localResponse?.status, 503);
              assert.equal(h.plugin.counters.failures, 2);
              assert.equal(hostErrors(h.logs).length, 1);
            } else {
              assert.equal(next.results.requestHeaders, 0);
            }
            return;
          }

          const calls = spyGuestCalls(h.plugin.vm);
          const next = runStream(h);
          assert.deepEqual(calls, [], 'a failed VM is never called again');
          assert.deepEqual(h.logs, []);
          if (policy === 'FAIL_OPEN') {
            assert.deepEqual(next.results, {
              requestHeaders: 0,
              requestBody: 0,
              responseHeaders: 0,
              responseBody: 0,
            });
            assert.equal(next.s.localResponse, undefined);
            assert.equal(next.s.requestBody, 'hello');
            assert.equal(next.s.responseBody, 'world');
          } else {
            assert.equal(next.results.requestHeaders, 1);
            assert.equal(next.s.localResponse?.status, 503);
            assert.equal(next.s.localResponse?.details, 'wasm_fail_stream');
          }
        });
      }
    });
  }

  it('FAIL_RELOAD: the next stream after a trap gets a fresh VM at once; repeated failures back off', async () => {
    const h = await loadFilter({ wasm: HOSTILE, pluginConfig: 'r', failStrategy: 'FAIL_RELOAD' });
    const first = runStream(h);
    assert.equal(first.results.responseHeaders, 1);
    assert.equal(h.state, 'failed');

    // The next stream replaces the failed VM synchronously and is served by the new one.
    const next = h.newStream();
    assert.equal(h.plugin.counters.reloads, 1);
    assert.equal(h.state, 'ready');
    assert.equal(next.sendRequestHeaders(REQUEST), 0);
    assert.equal(next.localResponse, undefined);
    assert.ok(h.logs.some((l) => l.level === 'warn' && l.source === 'host' && /VM reloaded/.test(l.message)));
    // Mode r traps again in the response: the VM failed again soon after its reload.
    assert.equal(next.sendResponseHeaders({ ':status': '200' }), 1);
    assert.equal(h.state, 'failed');

    // Within the backoff no new VM is made: the stream gets the fail-close answer.
    const during = h.newStream();
    assert.equal(h.plugin.counters.reloads, 1);
    assert.equal(during.sendRequestHeaders(REQUEST), 1);
    assert.equal(during.localResponse?.status, 503);
    during.complete();
  });

  it('a trap fails only the trapping VM: another plugin of the same host keeps serving', async () => {
    const logs: LogEntry[] = [];
    const host = new Host({ log: (e) => logs.push(e), logLevel: 'trace', timers: 'manual' });
    const bad = await loadFilter({ wasm: HOSTILE, host, name: 'bad', pluginConfig: 't' });
    const good = await loadFilter({ wasm: HOSTILE, host, name: 'good', pluginConfig: '-' });

    assert.equal(runStream(bad).results.requestHeaders, 1);
    assert.equal(bad.state, 'failed');

    const { s, results } = runStream(good);
    assert.deepEqual(results, { requestHeaders: 0, requestBody: 0, responseHeaders: 0, responseBody: 0 });
    assert.equal(s.localResponse, undefined);
    assert.equal(good.state, 'ready');
    assert.deepEqual(
      hostErrors(logs).map((l) => l.plugin),
      ['bad'],
    );
  });
});

describe('hostile.wasm traps while starting', () => {
  async function startFailure(options: { pluginConfig?: string; vmConfig?: string }) {
    const logs: LogEntry[] = [];
    const host = new Host({ log: (e) => logs.push(e), logLevel: 'trace', timers: 'manual' });
    const error = await loadFilter({ wasm: HOSTILE, host, ...options }).then(
      () => assert.fail('loadFilter should reject'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof PluginStartError, `a PluginStartError, got ${String(error)}`);
    return { error, logs, host };
  }

  it('z: a trap in proxy_on_configure rejects loadFilter with a PluginStartError naming the callback', async () => {
    const { error, logs, host } = await startFailure({ pluginConfig: 'z' });
    assert.equal(error.plugin, 'hostile');
    assert.match(error.message, /^plugin hostile: .*proxy_on_configure/);
    assert.match(error.message, /unreachable/);
    assert.deepEqual(filterLines(logs), ['hostile mode: z']);
    const errors = hostErrors(logs);
    assert.equal(errors.length, 1, 'the trap is logged');
    assert.match(errors[0].message, /proxy_on_configure/);
    assert.match(errors[0].backtrace?.[0] ?? '', /^explode_in_configure /);
    assert.match(errors[0].backtrace?.[1] ?? '', /^proxy_on_configure /);

    // The host stays up: the same host starts and runs a healthy plugin.
    const h = await loadFilter({ wasm: HOSTILE, host, pluginConfig: '-' });
    const { results } = runStream(h);
    assert.deepEqual(results, { requestHeaders: 0, requestBody: 0, responseHeaders: 0, responseBody: 0 });
  });

  it('v: a trap in proxy_on_vm_start rejects loadFilter before proxy_on_configure runs', async () => {
    const { error, logs } = await startFailure({ vmConfig: 'v', pluginConfig: 't' });
    assert.match(error.message, /^plugin hostile: .*proxy_on_vm_start/);
    assert.deepEqual(filterLines(logs), ['hostile: vm config: v']);
    const errors = hostErrors(logs);
    assert.equal(errors.length, 1, 'the trap is logged');
    assert.match(errors[0].message, /proxy_on_vm_start/);
    assert.match(errors[0].backtrace?.[0] ?? '', /^explode_in_vm_start /);
  });

  it('another VM configuration byte is read in proxy_on_vm_start and is benign', async () => {
    const h = await loadFilter({ wasm: HOSTILE, vmConfig: 'q', pluginConfig: '-' });
    assert.deepEqual(filterLines(h.logs), ['hostile: vm config: q', 'hostile mode: -']);
    assert.equal(h.state, 'ready');
  });
});
