// What Envoy would refuse to link, refused at load here too, so that a module that loads in wasmgate loads in
// Envoy: host functions of another ABI version (cpp-host links some only for their version), imports (env and
// WASI) whose signature, value types included, is not the host function's, and callbacks whose signature is
// not the ABI's.

import { AbiVersion } from '../abi/constants.js';
import { hostcallSpec } from '../abi/hostcalls.js';
import { ModuleError } from './errors.js';
import { type FunctionSignature, moduleSignatures } from './wasm/signatures.js';

/** A callback's signature: every parameter and result an i32 (cpp-host's Word). */
const sig = (params: number, results: number): FunctionSignature => ({
  params: Array<string>(params).fill('i32'),
  results: Array<string>(results).fill('i32'),
});

/** The callbacks' signatures as cpp-host looks them up (getFunctions); the 0.1.0 headers callbacks differ. */
const CALLBACKS: Readonly<Record<string, FunctionSignature>> = {
  proxy_on_context_create: sig(2, 0),
  proxy_on_vm_start: sig(2, 1),
  proxy_on_configure: sig(2, 1),
  proxy_on_tick: sig(1, 0),
  proxy_on_queue_ready: sig(2, 0),
  proxy_on_new_connection: sig(1, 1),
  proxy_on_downstream_data: sig(3, 1),
  proxy_on_upstream_data: sig(3, 1),
  proxy_on_downstream_connection_close: sig(2, 0),
  proxy_on_upstream_connection_close: sig(2, 0),
  proxy_on_request_headers: sig(3, 1),
  proxy_on_request_body: sig(3, 1),
  proxy_on_request_trailers: sig(2, 1),
  proxy_on_request_metadata: sig(2, 1),
  proxy_on_response_headers: sig(3, 1),
  proxy_on_response_body: sig(3, 1),
  proxy_on_response_trailers: sig(2, 1),
  proxy_on_response_metadata: sig(2, 1),
  proxy_on_done: sig(1, 1),
  proxy_on_log: sig(1, 0),
  proxy_on_delete: sig(1, 0),
  proxy_on_http_call_response: sig(5, 0),
  proxy_on_grpc_receive_initial_metadata: sig(3, 0),
  proxy_on_grpc_receive: sig(3, 0),
  proxy_on_grpc_receive_trailing_metadata: sig(3, 0),
  proxy_on_grpc_close: sig(3, 0),
  proxy_on_foreign_function: sig(3, 0),
  proxy_validate_configuration: sig(2, 1),
  proxy_on_memory_allocate: sig(1, 1),
  malloc: sig(1, 1),
  _initialize: sig(0, 0),
  _start: sig(0, 0),
  main: sig(2, 1),
};

const ABI_010_HEADERS = sig(2, 1);

const sameTypes = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((t, i) => t === b[i]);
const sameSignature = (a: FunctionSignature, b: FunctionSignature) =>
  sameTypes(a.params, b.params) && sameTypes(a.results, b.results);
/** As the text format writes a function type: (func (param i32 i64) (result i32)). */
const describe = (s: FunctionSignature) =>
  `(func${s.params.length ? ` (param ${s.params.join(' ')})` : ''}${s.results.length ? ` (result ${s.results.join(' ')})` : ''})`;

export function checkLinkable(
  imports: ReadonlyArray<{ module: string; name: string }>,
  bytes: Uint8Array | undefined,
  abi: AbiVersion,
  source: string,
): void {
  const onlyFor = (i: { module: string; name: string }) =>
    i.module === 'env' ? hostcallSpec('env', i.name)?.abi : undefined;
  const wrongAbi = imports.filter((i) => {
    const versions = onlyFor(i);
    return versions !== undefined && !versions.includes(abi);
  });
  if (wrongAbi.length > 0) {
    const names = wrongAbi.map((i) => `env.${i.name} (ABI ${onlyFor(i)?.join(' / ')} only)`);
    throw new ModuleError(
      `import${names.length > 1 ? 's' : ''} of another ABI version: ${names.join(', ')}; the module is ABI ${abi}, and Envoy does not link ${names.length > 1 ? 'them' : 'it'} for it either`,
      source,
    );
  }
  const signatures = bytes ? moduleSignatures(bytes) : undefined;
  if (!signatures) return;
  const wrong: string[] = [];
  // Value types too, env's and WASI's: V8 refuses an (i32, i32) import of an (i32, i64) function at link.
  for (const s of signatures.imports) {
    const host = hostcallSpec(s.module, s.name);
    if (host && !sameSignature(host, s))
      wrong.push(
        `import ${s.module}.${s.name} is declared ${describe(s)}, the host function is ${describe(host)}`,
      );
  }
  const exported = signatures.exports;
  // cpp-host looks up main only beside _initialize, _start only without it, proxy_on_memory_allocate only
  // without malloc: only those it looks up must have the right signature.
  const unused = new Set<string>(exported.has('_initialize') ? ['_start'] : ['main']);
  if (exported.has('malloc')) unused.add('proxy_on_memory_allocate');
  if (abi === AbiVersion.V0_1_0) unused.add('proxy_on_foreign_function'); // looked up for 0.2.x only
  for (const [name, s] of exported) {
    if (unused.has(name)) continue;
    const headers = name === 'proxy_on_request_headers' || name === 'proxy_on_response_headers';
    const expected = headers && abi === AbiVersion.V0_1_0 ? ABI_010_HEADERS : CALLBACKS[name];
    if (expected && !sameSignature(expected, s))
      wrong.push(`export ${name} is ${describe(s)}, ABI ${abi} wants ${describe(expected)}`);
  }
  if (wrong.length > 0)
    throw new ModuleError(
      `signature mismatch (Envoy refuses to link the module too): ${wrong.join('; ')}`,
      source,
    );
}
