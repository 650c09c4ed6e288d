// The bearer tokens /token issues: JWTs signed with the hub's RSA key (RS256), which is what the
// distribution registry's token auth verifies too. The key is generated on first start and kept in
// <data>/token-key.pem (mode 0600).

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
  verify,
} from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: AccessEntry[];
  /** The personal access token's scopes, when the caller signed in with one. */
  scopes?: string[];
  /** And its id: the token is looked up on every use, so revoking it ends this one too. */
  tid?: string;
}

/** Most tokens whose signature is remembered as checked (the oldest go first). */
export const VERIFIED_TOKENS_MAX = 10_000;

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export class TokenSigner {
  /** Tokens whose signature checked out, with their claims (an RSA verify per request costs more). */
  private readonly verified = new Map<string, TokenClaims>();

  private constructor(
    private readonly key: KeyObject,
    readonly publicKey: KeyObject,
    readonly issuer: string,
  ) {}

  static async open(file: string, issuer: string): Promise<TokenSigner> {
    let pem: string;
    try {
      pem = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      await writeFile(file, pem, { mode: 0o600, flag: 'wx' });
    }
    const key = createPrivateKey(pem);
    return new TokenSigner(key, createPublicKey(key), issuer);
  }

  sign(
    sub: string,
    audience: string,
    access: AccessEntry[],
    ttlSeconds: number,
    header: Record<string, unknown> = {},
    token?: { id?: string; scopes?: readonly string[] },
  ): string {
    const now = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = {
      iss: this.issuer,
      sub,
      aud: audience,
      exp: now + ttlSeconds,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
      ...(token?.scopes ? { scopes: [...token.scopes] } : {}),
      ...(token?.id ? { tid: token.id } : {}),
    };
    const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', ...header }));
    const body = b64url(JSON.stringify(claims));
    const sig = sign('RSA-SHA256', Buffer.from(`${head}.${body}`), this.key);
    return `${head}.${body}.${b64url(sig)}`;
  }

  /** The claims of a token this hub signed for the audience and that has not expired; else undefined. */
  verify(token: string, audience: string): TokenClaims | undefined {
    const claims = this.verified.get(token) ?? this.checkSignature(token);
    if (!claims) return undefined;
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== this.issuer || claims.aud !== audience || claims.exp < now || claims.nbf > now + 60)
      return undefined;
    return claims;
  }

  /** The claims of a token whose signature is this hub's, remembered (bounded, expired ones first out). */
  private checkSignature(token: string): TokenClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const ok = verify(
      'RSA-SHA256',
      Buffer.from(`${parts[0]}.${parts[1]}`),
      this.publicKey,
      Buffer.from(parts[2], 'base64url'),
    );
    if (!ok) return undefined;
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return undefined;
    }
    const now = Math.floor(Date.now() / 1000);
    for (const [k, c] of this.verified) {
      if (this.verified.size < VERIFIED_TOKENS_MAX && c.exp >= now) break;
      this.verified.delete(k);
    }
    this.verified.set(token, claims);
    return claims;
  }
}
