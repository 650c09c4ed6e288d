// Types of scripts/clang-wasm.mjs, for the tests that compile C with it.
export declare const CLANG_ENV: readonly string[];
export declare function clangWasm(
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
): { args: string[]; env: NodeJS.ProcessEnv };
