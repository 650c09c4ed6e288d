// What the web pages work with: the stores, the account rules, the login limiter and where the hub is.

import type { AccountActions } from '../account-actions.js';
import type { HubLimits } from '../limits.js';
import type { LoginLimiter } from '../login-limiter.js';
import type { HubMetadata } from '../metadata.js';
import type { RegistryEvents } from '../registry-deps.js';
import type { SignatureStatus } from '../signature-status.js';

export interface WebDeps {
  meta: HubMetadata;
  actions: AccountActions;
  limits: HubLimits;
  limiter: LoginLimiter;
  /** The hub's URL as clients reach it; default: from each request's Host. */
  publicUrl?: string;
  /** Told of tag deletes made on the pages (the audit log, the catalogue). */
  events?: RegistryEvents;
  /** --registry mode: host[:port] of the registry that holds the images (pulled and deleted there). */
  registryElsewhere?: string;
  /** Checks each tag's signatures for the repository page. */
  signatures?: SignatureStatus;
}
