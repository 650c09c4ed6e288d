// Error messages name what is wrong with a module without echoing the bytes of a file that is not one
// (issue 18, item 11): `file:///etc/shadow` as a plugin URL answered "… found 72 6f 6f 74", the file's
// first bytes, to whoever could call the admin API.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { parseConfig } from '../src/control/load-config.js';
import { Host } from '../src/host/host.js';
import { createLogger } from '../src/observe/logger.js';
import { Gateway } from '../src/server/gateway.js';
import { tempDir } from './support/proxy.js';

const SECRET = 'root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n';
/** The secret's first bytes as V8 printed them, and as text. */
const LEAKS = [/72 6f 6f 74/i, /root/, /saltsalt/];

function assertNoLeak(message: string): void {
  for (const leak of LEAKS) assert.doesNotMatch(message, leak);
}

describe('a file that is not a Wasm module: the error does not show its bytes', () => {
  it('Host.compile names the missing magic number', async () => {
    const host = new Host({ log: () => {} });
    await assert.rejects(host.compile(new TextEncoder().encode(SECRET), 'shadow'), (e: Error) => {
      assert.equal(e.name, 'ModuleError');
      assert.match(
        e.message,
        /^shadow: not a valid WebAssembly module: it does not begin with the WebAssembly magic number/,
      );
      assertNoLeak(e.message);
      return true;
    });
  });

  it('a module with the magic number still gets the engine’s own reason', async () => {
    const host = new Host({ log: () => {} });
    const truncated = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x10, 0x01]);
    await assert.rejects(
      host.compile(truncated, 't.wasm'),
      /^ModuleError: t\.wasm: not a valid WebAssembly module: .*section/,
    );
  });

  it('the admin API refuses a plugin URL on such a file without echoing it', async () => {
    const dir = tempDir();
    const secret = join(dir, 'shadow');
    writeFileSync(secret, SECRET);
    const runtime = tempDir();
    process.env.WASMGATE_RUNTIME_DIR = runtime;
    const g = await Gateway.start(
      parseConfig(
        `admin: {address: 127.0.0.1, port: 0}
accessLog: {enabled: false}
listeners: [{name: main, address: 127.0.0.1, port: 0}]
routes: [{name: all, match: {prefix: /}, directResponse: {status: 200}}]
`,
        'leak.yaml',
        dir,
      ),
      { watch: false, logger: createLogger('critical') },
    );
    try {
      const token = readFileSync(join(runtime, `admin-${g.adminPort}.token`), 'utf8').trim();
      const res = await fetch(`http://127.0.0.1:${g.adminPort}/plugins/t/leak`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'extensions.istio.io/v1alpha1',
          kind: 'WasmPlugin',
          metadata: { name: 'leak', namespace: 't' },
          spec: { url: pathToFileURL(secret).href },
        }),
      });
      const body = (await res.json()) as { error: string };
      assert.equal(res.status, 422);
      assert.match(
        body.error,
        /not a valid WebAssembly module: it does not begin with the WebAssembly magic number/,
      );
      assertNoLeak(body.error);
      assertNoLeak(g.lastApplyError ?? '');
    } finally {
      await g.close(0);
    }
  });
});
