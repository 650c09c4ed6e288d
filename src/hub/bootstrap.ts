// The first start of a hub with accounts: the admin user, with the password from
// $WASMGATE_HUB_ADMIN_PASSWORD or a generated one (told once); and the registry events the audit log
// records (deletes, with who did them; a push is audited in the transaction that stores its manifest).

import type { AccountStore } from './accounts.js';
import type { RegistryEvents } from './registry-deps.js';
import { hashSecret, randomSecret } from './secrets.js';

export const ADMIN_USER = 'admin';

export async function bootstrapAdmin(
  accounts: AccountStore,
  o: { adminPassword?: string; onAdminCreated?: (password: string, generated: boolean) => void },
): Promise<void> {
  if ((await accounts.countUsers()) > 0) return;
  const given = o.adminPassword ?? process.env.WASMGATE_HUB_ADMIN_PASSWORD;
  const password = given || randomSecret();
  await accounts.createAccount({
    name: ADMIN_USER,
    kind: 'user',
    passwordHash: await hashSecret(password),
    admin: true,
    createdAt: Date.now(),
  });
  await accounts.audit({
    at: Date.now(),
    action: 'user.create',
    target: ADMIN_USER,
    detail: { admin: true, bootstrap: true },
  });
  o.onAdminCreated?.(password, !given);
}

export function auditEvents(accounts: AccountStore): RegistryEvents {
  return {
    async deleted(repository, reference, user) {
      await accounts.audit({
        at: Date.now(),
        actor: user,
        action: 'delete',
        target: repository,
        detail: { reference },
      });
    },
  };
}
