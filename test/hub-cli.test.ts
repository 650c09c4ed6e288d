// `wasmgate hub` as a user starts it: the generated admin password printed once, the URL it serves,
// a clean stop on SIGTERM, and a clear error for a --data that is not a directory.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from './support/fixtures.js';
import { tempDataDir } from './support/hub.js';

const main = join(repoRoot, 'dist', 'cli', 'main.js');

function startCli(
  data: string,
): Promise<{ url: string; password?: string; stop: () => Promise<number | null> }> {
  const env = { ...process.env };
  delete env.WASMGATE_HUB_ADMIN_PASSWORD;
  const child = spawn(process.execPath, [main, 'hub', '--data', data, '--port', '0'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const url = /serving (http:\/\/\S+)/.exec(err)?.[1];
      if (url) {
        const password = /created user admin with password (\S+)/.exec(err)?.[1];
        resolve({
          url,
          password,
          stop: () =>
            new Promise((r) => {
              child.once('exit', (code) => r(code));
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`wasmgate hub exited ${code}: ${err}`)));
  });
}

describe('wasmgate hub (command)', () => {
  it('prints a generated admin password once, serves, and stops on SIGTERM', async () => {
    assert.ok(existsSync(main), 'run `npm run build` first');
    const data = tempDataDir();
    const first = await startCli(data);
    assert.ok(first.password && first.password.length >= 32, 'a generated password');
    const auth = `Basic ${Buffer.from(`admin:${first.password}`).toString('base64')}`;
    assert.equal((await fetch(`${first.url}/v2/`, { headers: { authorization: auth } })).status, 200);
    assert.equal(await first.stop(), 0);
    const second = await startCli(data);
    assert.equal(second.password, undefined);
    assert.equal(
      (await fetch(`${second.url}/api/v1/user`, { headers: { authorization: auth } })).status,
      200,
    );
    assert.equal(await second.stop(), 0);
  });

  it('refuses a --data that is a file, naming it (exit 2)', () => {
    const file = join(dirname(tempDataDir()), 'not-a-dir');
    writeFileSync(file, 'x');
    const r = spawnSync(process.execPath, [main, 'hub', '--data', file, '--port', '0'], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--data .*not-a-dir: exists and is not a directory/);
    const db = spawnSync(
      process.execPath,
      [main, 'hub', '--data', `${file}.d`, '--database', 'mysql://u:secret@h/db'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(db.status, 2, db.stderr);
    assert.match(db.stderr, /--database mysql:\/\/u:\*\*\*@h\/db: expected postgres:\/\//);
  });
});
