// wasmgate/oci: Wasm filter images (both formats Istio reads), a registry client, the local image store
// and the module cache. Nothing here knows about the proxy.
export * from './auth.js';
export * from './digest.js';
export * from './errors.js';
export * from './gzip.js';
export * from './image.js';
export * from './limits.js';
export * from './media-types.js';
export * from './module-cache.js';
export * from './paths.js';
export * from './reference.js';
export * from './registry.js';
export * from './settings.js';
export * from './store.js';
export * from './tar.js';
export * from './transport.js';
export * from './wasm-image.js';
export * from './wasm-meta.js';
