// wasmgate: a Proxy-Wasm host, proxy and toolchain on Node.js.
export * from './abi/index.js';
export * from './host/index.js';
export * from './testing/index.js';
