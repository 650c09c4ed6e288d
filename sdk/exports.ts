// `export * from '@wasmgate/sdk/exports'` in a filter's entry file exports the ABI callbacks.
export * from './assembly/exports';
