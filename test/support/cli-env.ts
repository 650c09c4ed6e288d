// The environment of one simulated user of the CLI: their own image store, module cache and credential
// files under `dir`, so tests can run several users side by side.

import { join } from 'node:path';

export function cliEnv(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    WASMGATE_STORE_DIR: join(dir, 'store'),
    WASMGATE_CACHE_DIR: join(dir, 'cache'),
    WASMGATE_AUTH_FILE: join(dir, 'auth.json'),
    DOCKER_CONFIG: join(dir, 'docker'),
    // skopeo's credentials
    REGISTRY_AUTH_FILE: join(dir, 'containers-auth.json'),
  };
}
