// Errors of signature checks and the load policy. They are OciErrors so that the command line maps them to
// its exit codes: a bad key or option is a usage error, a signature or rule that refuses a module an
// integrity error.

import { OciError, type OciErrorKind } from '../oci/errors.js';

export class TrustError extends OciError {
  constructor(kind: OciErrorKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.name = 'TrustError';
  }
}

/** The policy rules a module can fail; each is a label of wasmgate_policy_refusals_total. */
export type PolicyRule = 'signature' | 'allowedImages' | 'deniedNetworks' | 'maxModuleBytes' | 'capabilities';

/** A module refused by a rule of the load policy (or by its plugin's verificationKey: rule "signature"). */
export class PolicyRefusal extends TrustError {
  constructor(
    readonly rule: PolicyRule,
    message: string,
  ) {
    super('integrity', `refused by policy rule "${rule}": ${message}`);
    this.name = 'PolicyRefusal';
  }
}
