// The load policy: what may run. Part of the gateway configuration (top-level `policy`), checked for every
// plugin's module by load-gate.ts — before the fetch (where it comes from) and after it, before compiling
// (size, signatures, imported capabilities). docs/security.md says what each rule guards against.

import { isIP } from 'node:net';
import { z } from 'zod';
import { CAPABILITY_GROUPS } from '../host/capabilities.js';

/**
 * Link-local and cloud metadata addresses: a module URL that resolves there could read instance credentials
 * (169.254.169.254 and fd00:ec2::254 on AWS, 100.100.100.200 on Alibaba). Loopback stays allowed.
 */
export const DEFAULT_DENIED_NETWORKS: readonly string[] = [
  '169.254.0.0/16',
  'fe80::/10',
  'fd00:ec2::254/128',
  '100.100.100.200/32',
];

function isCidr(s: string): boolean {
  const [addr, bits, ...rest] = s.split('/');
  const family = isIP(addr);
  if (rest.length > 0 || family === 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

const trustedKey = z.union([
  z.string().min(1),
  z
    .object({
      /** A PEM text or a path (relative to the configuration file). */
      key: z.string().min(1),
      /** After this instant the key is no longer trusted (ISO 8601). */
      expires: z
        .string()
        .refine((s) => !Number.isNaN(Date.parse(s)), { message: 'expected an ISO 8601 date' }),
    })
    .strict(),
]);

export const policySchema = z
  .object({
    /** Every module must carry a signature by a trusted key (oci://: in the registry or embedded; else embedded). */
    requireSignatures: z.boolean().default(false),
    /** Public keys (PEM paths or texts) whose signatures are accepted; a plugin's verificationKey replaces them. */
    trustedKeys: z.array(trustedKey).default([]),
    /** Keyless (Fulcio/Rekor) signatures: a trusted root (trusted_root.json) and the identities that may sign. */
    keyless: z
      .object({
        trustedRoot: z.string().min(1),
        identities: z
          .array(z.object({ issuer: z.string().min(1), subject: z.string().min(1) }).strict())
          .min(1),
      })
      .strict()
      .optional(),
    /** oci:// modules only from these registry/repository globs (`*` within a path segment, `**` across). */
    allowedImages: z.array(z.string().min(1)).optional(),
    /** The largest module accepted, in bytes. */
    maxModuleBytes: z.number().int().min(1).optional(),
    /** The capability groups a module's imports may reach; a module importing outside them is refused. */
    capabilities: z
      .array(
        z.string().refine((g) => g in CAPABILITY_GROUPS, {
          message: `unknown capability group: expected one of ${Object.keys(CAPABILITY_GROUPS).join(', ')}`,
        }),
      )
      .optional(),
    /** Addresses (CIDR) an https:// or oci:// module host may not resolve to. */
    deniedNetworks: z
      .array(
        z.string().refine(isCidr, { message: 'expected an IP address or CIDR block, e.g. 169.254.0.0/16' }),
      )
      .default([...DEFAULT_DENIED_NETWORKS]),
  })
  .strict();

export type LoadPolicy = z.infer<typeof policySchema>;

/** The policy with nothing configured: only the default denied networks apply. */
export function defaultPolicy(): LoadPolicy {
  return policySchema.parse({});
}

/** `*` matches within a path segment, `**` across segments. */
export function globMatch(glob: string, value: string): boolean {
  const re = glob
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('.*');
  return new RegExp(`^${re}$`).test(value);
}
