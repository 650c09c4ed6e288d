// `wasmgate hub user|org|token …`: the hub's accounts administered through its API, signed in with
// what `wasmgate login <hub>` stored. The hub is --hub <host[:port]|url> or $WASMGATE_HUB.

import { type Command, Option } from 'commander';
import { HubClient } from '../hub/api-client.js';
import { CredentialStore } from '../oci/auth.js';
import { OciError } from '../oci/errors.js';

const say = (s: string) => process.stderr.write(`${s}\n`);
const out = (s: string) => process.stdout.write(`${s}\n`);

export function hubOption(): Option {
  return new Option('--hub <host|url>', 'the hub (default $WASMGATE_HUB)');
}

export async function connectHub(o: { hub?: string }): Promise<HubClient> {
  const hub = o.hub ?? process.env.WASMGATE_HUB;
  if (!hub) throw new OciError('usage', 'which hub? give --hub <host[:port]|url> or set WASMGATE_HUB');
  return HubClient.connect(hub, new CredentialStore());
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export function registerHubAdminCommands(hub: Command): void {
  const user = hub.command('user').description('users of a hub (admins)');
  user
    .command('add')
    .argument('<name>')
    .addOption(hubOption())
    .option('--admin', 'make the user an admin')
    .option('--password-stdin', 'read the password from stdin (default: generate one and print it)')
    .action(async (name: string, o: { hub?: string; admin?: boolean; passwordStdin?: boolean }) => {
      const c = await connectHub(o);
      const generated = o.passwordStdin ? undefined : (await import('../hub/secrets.js')).randomSecret();
      const password = generated ?? (await readStdin());
      await c.call('POST', '/users', { name, password, admin: o.admin === true });
      say(`created user ${name}${o.admin ? ' (admin)' : ''}`);
      if (generated) out(generated);
    });
  user
    .command('list')
    .addOption(hubOption())
    .action(async (o: { hub?: string }) => {
      const r = await (await connectHub(o)).call<{ users: Array<{ name: string; admin: boolean }> }>(
        'GET',
        '/users',
      );
      for (const u of r.users) out(`${u.name}${u.admin ? '\tadmin' : ''}`);
    });
  user
    .command('rm')
    .argument('<name>')
    .addOption(hubOption())
    .action(async (name: string, o: { hub?: string }) => {
      await (await connectHub(o)).call('DELETE', `/users/${encodeURIComponent(name)}`);
      say(`deleted user ${name}`);
    });

  const org = hub.command('org').description('organisations of a hub and their members');
  org
    .command('create')
    .argument('<name>')
    .addOption(hubOption())
    .action(async (name: string, o: { hub?: string }) => {
      await (await connectHub(o)).call('POST', '/orgs', { name });
      say(`created organisation ${name} (you are its owner)`);
    });
  org
    .command('members')
    .argument('<org>')
    .addOption(hubOption())
    .action(async (name: string, o: { hub?: string }) => {
      const r = await (await connectHub(o)).call<{ members: Array<{ user: string; role: string }> }>(
        'GET',
        `/orgs/${encodeURIComponent(name)}/members`,
      );
      for (const m of r.members) out(`${m.user}\t${m.role}`);
    });
  org
    .command('set')
    .description('add a member, or change a role')
    .argument('<org>')
    .argument('<user>')
    .addOption(
      new Option('--role <role>', 'the role').choices(['owner', 'maintainer', 'member']).default('member'),
    )
    .addOption(hubOption())
    .action(async (name: string, member: string, o: { hub?: string; role: string }) => {
      await (await connectHub(o)).call(
        'PUT',
        `/orgs/${encodeURIComponent(name)}/members/${encodeURIComponent(member)}`,
        {
          role: o.role,
        },
      );
      say(`${member} is ${o.role} of ${name}`);
    });
  org
    .command('rm')
    .description('remove a member')
    .argument('<org>')
    .argument('<user>')
    .addOption(hubOption())
    .action(async (name: string, member: string, o: { hub?: string }) => {
      await (await connectHub(o)).call(
        'DELETE',
        `/orgs/${encodeURIComponent(name)}/members/${encodeURIComponent(member)}`,
      );
      say(`removed ${member} from ${name}`);
    });

  const token = hub.command('token').description('your personal access tokens on a hub');
  token
    .command('create')
    .argument('<name>', 'a label for the token')
    .requiredOption(
      '--scope <scope...>',
      'pull:<target> or push:<target>; target *, an account, or account/name',
    )
    .option('--expires-days <days>', 'expire after this many days (default: never)', Number)
    .addOption(hubOption())
    .action(async (name: string, o: { hub?: string; scope: string[]; expiresDays?: number }) => {
      const r = await (await connectHub(o)).call<{ id: string; token: string; expiresAt?: string }>(
        'POST',
        '/tokens',
        {
          name,
          scopes: o.scope,
          expiresInDays: o.expiresDays,
        },
      );
      say(
        `created token ${r.id} (${o.scope.join(' ')}${r.expiresAt ? `, expires ${r.expiresAt}` : ''}); shown only now:`,
      );
      out(r.token);
    });
  token
    .command('list')
    .addOption(hubOption())
    .action(async (o: { hub?: string }) => {
      const r = await (await connectHub(o)).call<{
        tokens: Array<{
          id: string;
          name: string;
          scopes: string[];
          expiresAt?: string;
          lastUsedAt?: string;
        }>;
      }>('GET', '/tokens');
      for (const t of r.tokens)
        out(
          `${t.id}\t${t.name}\t${t.scopes.join(',')}\texpires ${t.expiresAt ?? 'never'}\tlast used ${t.lastUsedAt ?? 'never'}`,
        );
    });
  token
    .command('rm')
    .argument('<id>')
    .addOption(hubOption())
    .action(async (id: string, o: { hub?: string }) => {
      await (await connectHub(o)).call('DELETE', `/tokens/${encodeURIComponent(id)}`);
      say(`deleted token ${id}`);
    });
}
