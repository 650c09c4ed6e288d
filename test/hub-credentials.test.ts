// Remembered credentials: a verified password or access token skips scrypt for a while and a registry
// token's signature is checked once, yet revoking a token, changing a password or deleting a user takes
// effect on the very next request (the record is read every time; only the verification is remembered).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TokenSigner } from '../src/hub/jwt.js';
import { hashSecret } from '../src/hub/secrets.js';
import type { Hub } from '../src/hub/server.js';
import { VerifiedSecrets } from '../src/hub/verified-secrets.js';
import { hubBackends, ociError, putImage, startTestHub, tempDataDir } from './support/hub.js';

const basic = (user: string, secret: string) =>
  `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;

describe('VerifiedSecrets', () => {
  it('remembers a verified pair, never a failure, and nothing with a TTL of 0', async () => {
    const stored = await hashSecret('right-secret');
    const remembered = new VerifiedSecrets(60_000);
    assert.equal(await remembered.verify('wrong-secret', stored), false);
    assert.equal(remembered.size, 0);
    assert.equal(await remembered.verify('right-secret', stored), true);
    assert.equal(remembered.size, 1);
    assert.equal(await remembered.verify('right-secret', stored), true);
    assert.equal(remembered.size, 1);
    // Another stored hash (the password was changed) is another pair: checked again, and wrong.
    assert.equal(await remembered.verify('right-secret', await hashSecret('new-secret')), false);
    const none = new VerifiedSecrets(0);
    assert.equal(await none.verify('right-secret', stored), true);
    assert.equal(none.size, 0);
  });

  it('keeps at most its maximum, dropping the oldest', async () => {
    const stored = await hashSecret('s0-secret');
    const remembered = new VerifiedSecrets(60_000, 2);
    const hashes = [stored, await hashSecret('s1-secret'), await hashSecret('s2-secret')];
    for (let i = 0; i < 3; i++) assert.equal(await remembered.verify(`s${i}-secret`, hashes[i]), true);
    assert.equal(remembered.size, 2);
  });
});

describe('TokenSigner.verify', () => {
  it('a token is accepted again from memory, a tampered or expired one never', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const signer = await TokenSigner.open(join(mkdtempSync(join(tmpdir(), 'jwt-')), 'key.pem'), 'hub');
    const token = signer.sign('alice', 'svc', [{ type: 'repository', name: 'a/b', actions: ['pull'] }], 60);
    assert.equal(signer.verify(token, 'svc')?.sub, 'alice');
    assert.equal(signer.verify(token, 'svc')?.sub, 'alice');
    assert.equal(signer.verify(token, 'other'), undefined);
    const [h, body, sig] = token.split('.');
    const forged = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    forged.sub = 'admin';
    assert.equal(
      signer.verify(`${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${sig}`, 'svc'),
      undefined,
    );
    const gone = signer.sign('alice', 'svc', [], -120);
    assert.equal(signer.verify(gone, 'svc'), undefined);
  });
});

for (const backend of hubBackends())
  describe(`hub: remembered credentials are revoked at once (${backend})`, () => {
    let hub: Hub;
    let base: string;
    const admin = basic('admin', 'admin-secret-1');

    const call = (path: string, auth?: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, {
        ...init,
        headers: {
          ...(auth ? { authorization: auth } : {}),
          ...(init.body ? { 'content-type': 'application/json' } : {}),
        },
      });
    const status = async (res: Response) => {
      await res.arrayBuffer();
      return res.status;
    };
    const jwt = async (auth: string, scope: string) => {
      const res = await call(`/token?service=wasmgate-hub&scope=${encodeURIComponent(scope)}`, auth);
      assert.equal(res.status, 200);
      return `Bearer ${((await res.json()) as { token: string }).token}`;
    };

    before(async () => {
      hub = await startTestHub({
        backend,
        data: tempDataDir(),
        open: false,
        adminPassword: 'admin-secret-1',
      });
      base = hub.url;
      for (const name of ['erin', 'frank'])
        assert.equal(
          await status(
            await call('/api/v1/users', admin, {
              method: 'POST',
              body: JSON.stringify({ name, password: `${name}-password` }),
            }),
          ),
          201,
        );
    });
    after(async () => hub.close());

    it('a deleted access token stops working, and so do the registry tokens issued for it', async () => {
      const erin = basic('erin', 'erin-password');
      await putImage(base, 'erin/filter', 'v1', {}, erin);
      const created = await call('/api/v1/tokens', erin, {
        method: 'POST',
        body: JSON.stringify({ name: 'ci', scopes: ['pull:erin'] }),
      });
      const pat = (await created.json()) as { id: string; token: string };
      const viaPat = basic('erin', pat.token);
      // Twice: the second is answered from memory.
      assert.equal(await status(await call('/v2/erin/filter/manifests/v1', viaPat)), 200);
      assert.equal(await status(await call('/v2/erin/filter/manifests/v1', viaPat)), 200);
      assert.equal(await status(await call('/api/v1/user', `Bearer ${pat.token}`)), 200);
      const issued = await jwt(viaPat, 'repository:erin/filter:pull');
      assert.equal(await status(await call('/v2/erin/filter/manifests/v1', issued)), 200);

      assert.equal(await status(await call(`/api/v1/tokens/${pat.id}`, erin, { method: 'DELETE' })), 204);
      await ociError(await call('/v2/erin/filter/manifests/v1', viaPat), 'UNAUTHORIZED', 401);
      await ociError(await call('/api/v1/user', `Bearer ${pat.token}`), 'UNAUTHORIZED', 401);
      assert.match(
        await ociError(await call('/v2/erin/filter/manifests/v1', issued), 'UNAUTHORIZED', 401),
        /revoked/,
      );
      // A registry token from erin's password is not tied to the token.
      const fromPassword = await jwt(erin, 'repository:erin/filter:pull');
      assert.equal(await status(await call('/v2/erin/filter/manifests/v1', fromPassword)), 200);
    });

    it('a changed password refuses the old one at once; a deleted user loses its registry tokens', async () => {
      const old = basic('frank', 'frank-password');
      assert.equal(await status(await call('/api/v1/user', old)), 200);
      assert.equal(await status(await call('/api/v1/user', old)), 200);
      const issued = await jwt(old, 'repository:frank/x:pull');
      assert.equal(
        await status(
          await call('/api/v1/users/frank/password', old, {
            method: 'PUT',
            body: JSON.stringify({ password: 'frank-password-2' }),
          }),
        ),
        204,
      );
      await ociError(await call('/api/v1/user', old), 'UNAUTHORIZED', 401);
      assert.equal(await status(await call('/api/v1/user', basic('frank', 'frank-password-2'))), 200);

      assert.equal(await status(await call('/api/v1/users/frank', admin, { method: 'DELETE' })), 204);
      await ociError(await call('/api/v1/user', basic('frank', 'frank-password-2')), 'UNAUTHORIZED', 401);
      assert.match(
        await ociError(await call('/v2/frank/x/tags/list', issued), 'UNAUTHORIZED', 401),
        /no longer exists/,
      );
    });
  });
