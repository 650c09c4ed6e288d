// The package entry for AssemblyScript's resolver (`import … from '@wasmgate/sdk'`).
export * from './assembly/index';
