// The load policy applied to one plugin's module, in two steps around the fetch (plugin-loader.ts calls them):
//   beforeFetch  where the module comes from: allowed images (oci://), denied networks (https://, oci://);
//   afterFetch   what came: size, the capabilities its imports reach, its signature (the plugin's
//                verificationKey, else the policy's trusted keys and keyless identities when signatures are
//                required).
// A refusal throws a PolicyRefusal naming the rule, and is counted through onRefusal. A signature verified
// once for a manifest digest and key set is remembered: reloads do not ask the registry again.

import type { KeyObject } from 'node:crypto';
import { capabilityGroup } from '../host/capabilities.js';
import { moduleSignatures } from '../host/wasm/signatures.js';
import { ConnectGuard } from '../oci/connect-guard.js';
import { OciError } from '../oci/errors.js';
import { ImageReference } from '../oci/reference.js';
import type { RegistryClient } from '../oci/registry.js';
import { PolicyRefusal, type PolicyRule, TrustError } from './errors.js';
import { verifyImage } from './image-signatures.js';
import { loadPublicKey } from './key-files.js';
import { type KeylessTrust, loadKeylessTrust } from './keyless.js';
import { keyId } from './keys.js';
import { deniedAddresses } from './networks.js';
import { defaultPolicy, globMatch, type LoadPolicy } from './policy.js';
import { hasEmbeddedSignature, verifyModule } from './wasm-signature.js';

export interface GateOptions {
  /** Resolves relative key paths (the configuration file's directory). */
  baseDir?: string;
  /** Called once per refused module with the rule that refused it (the proxy counts them). */
  onRefusal?: (rule: PolicyRule) => void;
  /** The time keys expire against (tests). */
  now?: () => Date;
}

export interface GateModule {
  url: string;
  bytes: Uint8Array;
  /** oci://: the manifest digest the reference resolved to. */
  manifestDigest?: string;
}

interface TrustedKey {
  key: KeyObject;
  expires?: Date;
}

const MAX_REMEMBERED = 1024;
const verified = new Map<string, string>();

function remember(k: string, signer: string): void {
  if (verified.size >= MAX_REMEMBERED) verified.clear();
  verified.set(k, signer);
}

async function importedFunctions(bytes: Uint8Array): Promise<Array<{ module: string; name: string }>> {
  const sigs = moduleSignatures(bytes);
  if (sigs) return sigs.imports;
  // Type forms the binary reader does not follow (GC types): ask V8.
  return WebAssembly.Module.imports(await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>)).filter(
    (i) => i.kind === 'function',
  );
}

export class LoadGate {
  private readonly trusted: TrustedKey[];
  /** The policy's denied networks, for the check before a fetch and for the transport's at connect. */
  readonly denied: ConnectGuard;
  private readonly keyless: KeylessTrust | undefined;

  constructor(
    readonly policy: LoadPolicy = defaultPolicy(),
    private readonly options: GateOptions = {},
  ) {
    const baseDir = options.baseDir ?? process.cwd();
    this.trusted = policy.trustedKeys.map((t) =>
      typeof t === 'string'
        ? { key: loadPublicKey(t, baseDir) }
        : { key: loadPublicKey(t.key, baseDir), expires: new Date(t.expires) },
    );
    this.denied = new ConnectGuard(policy.deniedNetworks);
    const k = policy.keyless;
    this.keyless = k ? loadKeylessTrust(k.trustedRoot, k.identities, baseDir) : undefined;
  }

  private refuse(rule: PolicyRule, message: string): never {
    this.options.onRefusal?.(rule);
    throw new PolicyRefusal(rule, message);
  }

  /** Checks where a module comes from, before anything is fetched from there. */
  async beforeFetch(url: string): Promise<void> {
    let host: string | undefined;
    if (url.startsWith('oci://')) {
      const ref = ImageReference.parse(url);
      const allowed = this.policy.allowedImages;
      if (allowed && !allowed.some((g) => globMatch(g, ref.name)))
        this.refuse('allowedImages', `${ref.name} matches none of ${allowed.join(', ')}`);
      // The host the registry API is served from (Docker Hub's differs from its name).
      host = new URL(`https://${ref.apiHost}`).hostname;
    } else if (/^https?:\/\//i.test(url)) host = new URL(url).hostname;
    if (host === undefined) return;
    const bad = await deniedAddresses(host, this.denied);
    if (bad.length > 0)
      this.refuse(
        'deniedNetworks',
        `${host} resolves to ${bad.join(', ')}, in a denied network (${this.policy.deniedNetworks.join(', ')})`,
      );
  }

  /** A fetch the transport refused at connect (a denied address after the check above: rebinding, a redirect). */
  refusedAtConnect(message: string): never {
    this.refuse('deniedNetworks', message);
  }

  /** Checks what was fetched, before it is compiled; returns the key id of the signature that verified. */
  async afterFetch(
    m: GateModule,
    verificationKey: string | undefined,
    registry: () => RegistryClient,
  ): Promise<{ signedBy?: string }> {
    const max = this.policy.maxModuleBytes;
    if (max !== undefined && m.bytes.length > max)
      this.refuse('maxModuleBytes', `the module is ${m.bytes.length} bytes, over the limit of ${max}`);
    const ceiling = this.policy.capabilities;
    if (ceiling) {
      const outside = (await importedFunctions(m.bytes))
        .map((i) => ({ ...i, group: capabilityGroup(i.name) }))
        .filter((i) => i.group !== 'lifecycle' && !ceiling.includes(i.group));
      if (outside.length > 0)
        this.refuse(
          'capabilities',
          `the module imports ${outside.map((i) => `${i.module}.${i.name} (${i.group})`).join(', ')}, outside the allowed capabilities (${ceiling.join(', ')})`,
        );
    }
    if (verificationKey === undefined && !this.policy.requireSignatures) return {};
    return { signedBy: await this.checkSignature(m, verificationKey, registry) };
  }

  private async checkSignature(
    m: GateModule,
    verificationKey: string | undefined,
    registry: () => RegistryClient,
  ): Promise<string> {
    const now = (this.options.now ?? (() => new Date()))();
    const candidates: TrustedKey[] = verificationKey
      ? [{ key: loadPublicKey(verificationKey, this.options.baseDir) }]
      : this.trusted;
    const keys = candidates.filter((k) => !k.expires || k.expires > now).map((k) => k.key);
    const expired = candidates
      .filter((k) => k.expires && k.expires <= now)
      .map((k) => `key ${keyId(k.key).slice(0, 12)} expired on ${k.expires?.toISOString()}`);
    const expiredNote = expired.length > 0 ? ` (${expired.join('; ')}: no longer trusted)` : '';
    // A plugin's own key replaces the policy's keys and its keyless identities.
    const keyless = verificationKey ? undefined : this.keyless;
    if (keys.length === 0 && !keyless)
      this.refuse(
        'signature',
        `no trusted key to check the signature against${expiredNote}; set policy.trustedKeys or the plugin's verificationKey`,
      );
    const problems: string[] = [];
    if (keys.length > 0 && hasEmbeddedSignature(m.bytes)) {
      try {
        return verifyModule(m.bytes, keys).keyId;
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    if (m.url.startsWith('oci://') && m.manifestDigest) {
      const ref = ImageReference.parse(m.url);
      const root = this.policy.keyless?.trustedRoot;
      const identities = keyless?.identities.map((i) => `${i.subject} (${i.issuer}) in ${root}`) ?? [];
      const memo = `${m.manifestDigest}\0${[...keys.map(keyId), ...identities].sort().join(',')}`;
      const known = verified.get(memo);
      if (known) return known;
      try {
        const good = await verifyImage(registry(), ref, m.manifestDigest, keys, keyless);
        remember(memo, good[0].keyId!);
        return good[0].keyId!;
      } catch (e) {
        if (!(e instanceof OciError)) throw e;
        problems.push(
          e instanceof TrustError ? e.message : `cannot read the image's signatures: ${e.message}`,
        );
      }
    } else if (problems.length === 0)
      problems.push('the module has no embedded signature (sign it with `wasmgate sign --embed`)');
    return this.refuse('signature', `${problems.join('; ')}${expiredNote}`);
  }
}
