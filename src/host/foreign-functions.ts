// Foreign functions every host offers, as Envoy does: zlib compress/uncompress, and verify_signature
// (arguments and result are Envoy's protobuf messages, envoy/source/extensions/common/wasm/ext/
// verify_signature.proto). The ones that act on the calling context (declare_property, clear_route_cache,
// set_envoy_filter_state, expr_*) are in hostcalls/envoy-foreign.ts.

import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { Status } from '../abi/constants.js';
import { decodeMessage, encodeMessage, type ProtoMessage } from '../abi/protobuf-wire.js';
import type { ForeignFunction } from './driver.js';

/** The hash functions Envoy's crypto utility knows (by lower-case name). */
const HASHES = new Set(['sha1', 'sha224', 'sha256', 'sha384', 'sha512']);

/** VerifySignatureArguments' public key: DER (SubjectPublicKeyInfo, field 2) or PEM (field 5), exactly one. */
function publicKey(args: ProtoMessage): KeyObject | undefined {
  const der = args.bytes(2);
  const pem = args.string(5);
  if (der.length > 0 === pem.length > 0) return undefined;
  try {
    return der.length > 0
      ? createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' })
      : createPublicKey(pem);
  } catch {
    return undefined;
  }
}

/** Envoy's verify_signature: BAD_ARGUMENT for arguments it cannot parse or a key it cannot read; else a result. */
const verifySignature: ForeignFunction = (bytes) => {
  let args: ProtoMessage;
  try {
    args = decodeMessage(bytes);
  } catch {
    return Status.BadArgument;
  }
  const key = publicKey(args);
  if (!key) return Status.BadArgument;
  const hash = args.string(1).toLowerCase();
  // VerifySignatureResult: result = 1, error = 2.
  const result = (ok: boolean, error: string) =>
    encodeMessage([
      [1, ok],
      [2, error],
    ]);
  if (!HASHES.has(hash)) return result(false, `${args.string(1)} is not supported.`);
  let ok: boolean;
  try {
    ok = verify(hash, args.bytes(4), key, args.bytes(3));
  } catch {
    // A key the digest cannot go with (Ed25519 signs without one): OpenSSL's DigestVerifyInit fails.
    return result(false, 'Failed to initialize digest verify.');
  }
  return ok ? result(true, '') : result(false, 'Failed to verify digest. Error code: 0');
};

export const builtinForeignFunctions: Record<string, ForeignFunction> = {
  compress: (args) => new Uint8Array(deflateSync(args)),
  uncompress: (args) => {
    try {
      return new Uint8Array(inflateSync(args));
    } catch {
      return Status.SerializationFailure; // not zlib data
    }
  },
  verify_signature: verifySignature,
};
