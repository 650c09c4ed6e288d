// The load policy in the proxy: signatures required (trusted keys, a WasmPlugin's verificationKey, an Envoy
// entry's verification_key), allowed images, module size, the capability ceiling and denied networks. A
// refused module fails start or reload with the rule's name, the running configuration keeps serving, and
// wasmgate_policy_refusals_total counts refusals per rule.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { ConfigError } from '../src/control/config-error.js';
import { parseConfig } from '../src/control/load-config.js';
import { ModuleFetcher, setDefaultFetcher } from '../src/control/module-source.js';
import { buildImage, ImageReference, jsonBytes, RegistryClient } from '../src/oci/index.js';
import { Gateway } from '../src/server/gateway.js';
import { attachBundle, signImage } from '../src/trust/image-signatures.js';
import { IN_TOTO_PAYLOAD_TYPE, signStatement } from '../src/trust/payloads.js';
import { signModule } from '../src/trust/wasm-signature.js';
import { repoRoot } from './support/fixtures.js';
import { type Registry, startRegistry } from './support/registry.js';
import { offlineSigstore } from './support/sigstore.js';

const addHeader = new Uint8Array(readFileSync(join(repoRoot, 'examples', 'add-header', 'add_header.wasm')));

describe('the load policy', () => {
  let reg: Registry;
  let client: RegistryClient;
  let upstream: Server;
  let upPort: number;
  let dir: string;
  let previous: ModuleFetcher | undefined;
  const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const images: Record<string, string> = {};
  const sigstore = offlineSigstore();

  before(async () => {
    reg = await startRegistry();
    client = new RegistryClient();
    dir = mkdtempSync(join(tmpdir(), 'wasmgate-policy-'));
    writeFileSync(join(dir, 'signer.pub'), signer.publicKey.export({ format: 'pem', type: 'spki' }));
    writeFileSync(join(dir, 'stranger.pub'), stranger.publicKey.export({ format: 'pem', type: 'spki' }));
    // Each image has its own digest (root ids differ): a signature is for a digest, wherever it is stored.
    for (const name of ['signed', 'unsigned', 'stranger', 'keyless']) {
      const ref = ImageReference.parse(`${reg.host}/policy/${name}:v1`);
      const { digest } = await client.push(
        ref,
        await buildImage(addHeader, { format: 'compat', rootIds: [name] }),
      );
      if (name === 'signed') await signImage(client, ref, digest, signer.privateKey);
      if (name === 'stranger') await signImage(client, ref, digest, stranger.privateKey);
      if (name === 'keyless')
        await attachBundle(
          client,
          ref,
          digest,
          jsonBytes(
            sigstore.bundle(
              IN_TOTO_PAYLOAD_TYPE,
              signStatement(ref.name, digest),
              'ci@example.com',
              'https://issuer.test',
            ),
          ),
        );
      images[name] = `oci://${ref}`;
    }
    copyFileSync(join(repoRoot, 'examples', 'add-header', 'add_header.wasm'), join(dir, 'plain.wasm'));
    writeFileSync(join(dir, 'embedded.wasm'), signModule(addHeader, signer.privateKey));
    upstream = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    upPort = (upstream.address() as { port: number }).port;
    previous = setDefaultFetcher(new ModuleFetcher({ cacheDir: false, storeDir: false, retries: 0 }));
  });
  after(async () => {
    await setDefaultFetcher(previous)?.close();
    await client.close();
    upstream.close();
    await reg.stop();
  });

  function config(policy: string, plugins: string): string {
    return `
listeners: [{name: main, address: 127.0.0.1, port: 0}]
clusters: [{name: up, endpoints: ["127.0.0.1:${upPort}"]}]
routes: [{name: all, match: {prefix: /}, cluster: up}]
accessLog: {enabled: false}
admin: {port: 0}
policy: ${policy}
plugins:
${plugins}`;
  }

  const wasmPlugin = (url: string, extra = '') => `
  - apiVersion: extensions.istio.io/v1alpha1
    kind: WasmPlugin
    metadata: {name: hello, namespace: t}
    spec: {url: "${url}", pluginConfig: {x-hello: policy}${extra}}`;

  const envoyEntry = (file: string, key?: string) => `
  - wasm:
      name: envoy-hello
      configuration: '{"x-hello": "envoy"}'
      vm_config: {code: {local: {filename: ${file}}}}${key ? `\n      verification_key: ${key}` : ''}`;

  const parse = (text: string) => parseConfig(text, join(dir, 'gateway.yaml'), dir);

  async function refused(text: string, message: RegExp) {
    await assert.rejects(Gateway.start(parse(text)), (e: Error) => {
      assert.match(e.message, message);
      return true;
    });
  }

  async function hello(g: Gateway) {
    const r = await request(`http://127.0.0.1:${Object.values(g.ports)[0]}/`);
    await r.body.text();
    return r.headers['x-hello'];
  }

  it('requireSignatures: a signed image starts; a reload to an unsigned one is refused, counted, and the old one keeps serving', async () => {
    const policy = '{requireSignatures: true, trustedKeys: [signer.pub]}';
    const g = await Gateway.start(parse(config(policy, wasmPlugin(images.signed))));
    try {
      assert.equal(await hello(g), 'policy');
      for (const [url, why] of [
        [images.unsigned, /has no signature \(looked at tag sha256-[0-9a-f]{64}\.sig and its referrers\)/],
        [images.stranger, /no signature verifies with a trusted key/],
      ] as const) {
        await assert.rejects(g.apply(parse(config(policy, wasmPlugin(url)))), (e: Error) => {
          assert.match(e.message, /plugin t\/hello \(oci:\/\/.*\): refused by policy rule "signature": /);
          assert.match(e.message, why);
          return true;
        });
        assert.equal(await hello(g), 'policy');
      }
      const prom = await (await fetch(`http://127.0.0.1:${g.adminPort}/stats/prometheus`)).text();
      assert.match(prom, /wasmgate_policy_refusals_total\{rule="signature"\} 2/);
    } finally {
      await g.close();
    }
  });

  it('a stricter policy applies to the modules already running: the reload is refused, they keep serving', async () => {
    const g = await Gateway.start(parse(config('{}', wasmPlugin(images.unsigned))));
    try {
      assert.equal(await hello(g), 'policy');
      await assert.rejects(
        g.apply(
          parse(config('{requireSignatures: true, trustedKeys: [signer.pub]}', wasmPlugin(images.unsigned))),
        ),
        /refused by policy rule "signature": .*has no signature/,
      );
      assert.equal(await hello(g), 'policy');
    } finally {
      await g.close();
    }
  });

  it("honours a WasmPlugin's verificationKey (path or PEM) without a policy", async () => {
    const pem = JSON.stringify(signer.publicKey.export({ format: 'pem', type: 'spki' }).toString());
    for (const key of ['signer.pub', pem]) {
      const g = await Gateway.start(
        parse(config('{}', wasmPlugin(images.signed, `, verificationKey: ${key}`))),
      );
      assert.equal(await hello(g), 'policy');
      await g.close();
    }
    await refused(
      config('{}', wasmPlugin(images.signed, ', verificationKey: stranger.pub')),
      /refused by policy rule "signature": .*the signature does not verify with any trusted key/,
    );
  });

  it("checks an Envoy entry's verification_key against the module's embedded signature", async () => {
    const g = await Gateway.start(parse(config('{}', envoyEntry('embedded.wasm', 'signer.pub'))));
    assert.equal(await hello(g), 'envoy');
    await g.close();
    await refused(
      config('{}', envoyEntry('plain.wasm', 'signer.pub')),
      /refused by policy rule "signature": the module has no embedded signature/,
    );
    await refused(
      config('{requireSignatures: true, trustedKeys: [stranger.pub]}', envoyEntry('embedded.wasm')),
      /refused by policy rule "signature": none of the module's 1 embedded signature verifies/,
    );
  });

  it('accepts keyless signatures of the configured identities (trusted root given offline), refuses others', async () => {
    const keyless = (subject: string) =>
      `{requireSignatures: true, keyless: {trustedRoot: "${sigstore.trustedRootPath}", identities: [{issuer: "https://issuer.test", subject: "${subject}"}]}}`;
    const g = await Gateway.start(parse(config(keyless('ci@example.com'), wasmPlugin(images.keyless))));
    assert.equal(await hello(g), 'policy');
    await g.close();
    await refused(
      config(keyless('someone@example.com'), wasmPlugin(images.keyless)),
      /refused by policy rule "signature": .*the keyless signature is by ci@example\.com \(https:\/\/issuer\.test\), not a trusted identity/,
    );
    await refused(
      config(keyless('ci@example.com'), wasmPlugin(images.signed)),
      /refused by policy rule "signature": .*no signature verifies with a trusted key/,
    );
  });

  it('refuses a module whose trusted key expired, saying so', async () => {
    await refused(
      config(
        '{requireSignatures: true, trustedKeys: [{key: signer.pub, expires: "2020-01-01T00:00:00Z"}]}',
        wasmPlugin(images.signed),
      ),
      /refused by policy rule "signature": no trusted key to check the signature against \(key [0-9a-f]{12} expired on 2020-01-01T00:00:00\.000Z: no longer trusted\)/,
    );
  });

  it('refuses images outside allowedImages, modules over maxModuleBytes, imports over the capability ceiling', async () => {
    await refused(
      config('{allowedImages: ["ghcr.io/acme/**"]}', wasmPlugin(images.signed)),
      /refused by policy rule "allowedImages": 127\.0\.0\.1:\d+\/policy\/signed matches none of ghcr\.io\/acme\/\*\*/,
    );
    const g = await Gateway.start(
      parse(config(`{allowedImages: ["${reg.host}/policy/*"]}`, wasmPlugin(images.signed))),
    );
    await g.close();
    await refused(
      config('{maxModuleBytes: 1000}', envoyEntry('plain.wasm')),
      new RegExp(
        `refused by policy rule "maxModuleBytes": the module is ${addHeader.length} bytes, over the limit of 1000`,
      ),
    );
    await refused(
      config('{capabilities: [logging]}', envoyEntry('plain.wasm')),
      /refused by policy rule "capabilities": the module imports env\.proxy_\w+ \((?!logging)\w+\).*outside the allowed capabilities \(logging\)/,
    );
    const ok = await Gateway.start(
      parse(
        config(
          '{capabilities: [logging, headers, buffers, properties, timers, stream, metrics, wasi]}',
          envoyEntry('plain.wasm'),
        ),
      ),
    );
    assert.equal(await hello(ok), 'envoy');
    await ok.close();
  });

  it('refuses module URLs in denied networks (link-local/metadata by default) before fetching; loopback is allowed', async () => {
    for (const url of [
      'http://169.254.169.254/latest/x.wasm',
      'https://[::ffff:169.254.169.254]/x.wasm',
      'http://[fe80::1]/x.wasm',
    ])
      await refused(
        config('{}', wasmPlugin(url)),
        /refused by policy rule "deniedNetworks": .* resolves to .*, in a denied network \(169\.254\.0\.0\/16, fe80::\/10/,
      );
    await refused(
      config('{deniedNetworks: ["127.0.0.0/8"]}', wasmPlugin(images.signed)),
      /refused by policy rule "deniedNetworks": 127\.0\.0\.1 resolves to 127\.0\.0\.1, in a denied network \(127\.0\.0\.0\/8\)/,
    );
  });

  it('refuses at connect a redirect into a denied network, by address or by name, after the check up front passed', async () => {
    // The module is really there (127.0.0.2 and localhost): without the connect-time check it would load.
    const target = createServer((_req, res) => res.end(addHeader));
    await new Promise<void>((r) => target.listen(0, '0.0.0.0', () => r()));
    const targetPort = (target.address() as { port: number }).port;
    let redirectTo = '';
    const origin = createServer((_req, res) => {
      res.writeHead(302, { location: redirectTo });
      res.end();
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.3', () => r()));
    const url = `http://127.0.0.3:${(origin.address() as { port: number }).port}/filter.wasm`;
    try {
      // A redirect to an IP address: checked before the request, as every URL is.
      redirectTo = `http://127.0.0.2:${targetPort}/filter.wasm`;
      await refused(
        config('{deniedNetworks: ["127.0.0.2/32"]}', wasmPlugin(url)),
        /refused by policy rule "deniedNetworks": .*127\.0\.0\.2 resolves to 127\.0\.0\.2, in a denied network \(127\.0\.0\.2\/32\): refused at connect/,
      );
      // A redirect to a name: its lookup, at connect, goes through the guard (what a rebinding name does).
      redirectTo = `http://localhost:${targetPort}/filter.wasm`;
      const g = await Gateway.start(parse(config('{}', wasmPlugin(url))));
      try {
        // The same redirect loads under a policy that does not deny loopback…
        assert.equal(await hello(g), 'policy');
        // …and is refused, counted and rolled back under one that does.
        await assert.rejects(
          g.apply(parse(config('{deniedNetworks: ["127.0.0.1/32", "::1/128"]}', wasmPlugin(`${url}?again`)))),
          /refused by policy rule "deniedNetworks": .*: localhost resolves to (127\.0\.0\.1|::1), in a denied network .*: refused at connect/,
        );
        assert.equal(await hello(g), 'policy');
        const prom = await (await fetch(`http://127.0.0.1:${g.adminPort}/stats/prometheus`)).text();
        assert.match(prom, /wasmgate_policy_refusals_total\{rule="deniedNetworks"\} 1/);
      } finally {
        await g.close();
      }
    } finally {
      target.close();
      origin.close();
    }
  });

  it('validates the policy with the field named', () => {
    assert.throws(
      () =>
        parse(
          config(
            '{deniedNetworks: ["10.0.0.0/33"], capabilities: [network], maxModuleBytes: 0}',
            wasmPlugin(images.signed),
          ),
        ),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /policy\.deniedNetworks\[0\].*expected an IP address or CIDR block/);
        assert.match(e.message, /policy\.capabilities\[0\].*unknown capability group/);
        assert.match(e.message, /policy\.maxModuleBytes/);
        return true;
      },
    );
  });
});
