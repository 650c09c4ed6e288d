// Where wasmgate keeps its files. Each can be moved by an environment variable (tests use temp dirs).

import { homedir } from 'node:os';
import { join } from 'node:path';

/** The module cache of the proxy's fetcher: $WASMGATE_CACHE_DIR, else $XDG_CACHE_HOME/wasmgate, else ~/.cache/wasmgate. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.WASMGATE_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wasmgate');
}

/** The local image store (an OCI image layout): $WASMGATE_STORE_DIR, else $XDG_DATA_HOME/wasmgate/images, else ~/.local/share/wasmgate/images. */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.WASMGATE_STORE_DIR ||
    join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'wasmgate', 'images')
  );
}
