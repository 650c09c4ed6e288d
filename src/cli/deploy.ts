// `wasmgate deploy istio|envoy <ref>`: the WasmPlugin resource or the Envoy wasm filter for an image on a
// wasmgate hub, resolved through the hub's API (digest, module sha256, root ids); printed, or for Istio
// applied with `kubectl apply -f -` (--apply).

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';
import { HubClient } from '../hub/api-client.js';
import type { TagInfo } from '../hub/catalogue.js';
import { type DeployTarget, envoyWasmFilter, ISTIO_PHASES, istioWasmPlugin } from '../hub/deploy-config.js';
import { CredentialStore } from '../oci/auth.js';
import { OciError } from '../oci/errors.js';
import { ImageReference } from '../oci/reference.js';

/** --config: JSON, @file (JSON, else its text), or a plain string. */
function pluginConfig(v: string | undefined): unknown {
  if (v === undefined) return undefined;
  let text = v;
  if (v.startsWith('@')) {
    try {
      text = readFileSync(v.slice(1), 'utf8');
    } catch (e) {
      throw new OciError('usage', `--config ${v}: ${(e as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function selector(v: string, prev: Record<string, string> = {}): Record<string, string> {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`"${v}": expected key=value`);
  return { ...prev, [v.slice(0, eq)]: v.slice(eq + 1) };
}

/** --hub: the hub when the image's registry sits behind one (`wasmgate hub --registry`). */
const frontHubOption = () =>
  new Option(
    '--hub <host|url>',
    "the hub, when the image's registry is behind one (default: the image's registry)",
  );

async function resolve(input: string, hubHost?: string): Promise<DeployTarget> {
  const ref = ImageReference.parse(input);
  const hub = await HubClient.connect(hubHost ?? ref.registry, new CredentialStore(), ref.registry);
  const { tags } = await hub.call<{ tags: TagInfo[] }>('GET', `/repos/${ref.repository}/tags`);
  const found = ref.digest
    ? tags.find((t) => t.digest === ref.digest)
    : tags.find((t) => t.tag === (ref.tag ?? 'latest'));
  if (!found) throw new OciError('not-found', `${ref}: no such tag or digest on the hub`);
  return {
    registry: ref.registry,
    hubUrl: hub.base,
    repository: ref.repository,
    tag: ref.digest ? undefined : found.tag,
    digest: found.digest,
    module: found.module,
  };
}

function kubectlApply(yaml: string): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn('kubectl', ['apply', '-f', '-'], { stdio: ['pipe', 'inherit', 'inherit'] });
    child.on('error', (e) => rej(new OciError('usage', `--apply: cannot run kubectl: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? res() : rej(new Error(`kubectl apply exited with ${code}`))));
    child.stdin.end(yaml);
  });
}

export function registerDeployCommands(program: Command): void {
  const deploy = program
    .command('deploy')
    .description('print (or apply) the config that runs an image from a wasmgate hub');
  deploy
    .command('istio')
    .description("Istio's WasmPlugin for the image")
    .argument('<ref>', 'image on a hub, e.g. hub.example.com/acme/filter:v1')
    .option('--name <name>', 'resource name (default: the repository name)')
    .option('--namespace <ns>', 'namespace')
    .option('--selector <key=value>', 'workload label to match (repeatable)', selector)
    .addOption(new Option('--phase <phase>', 'filter phase').choices([...ISTIO_PHASES]))
    .option('--priority <n>', 'order within the phase', Number)
    .option('--config <json|@file>', 'pluginConfig')
    .option('--root-id <id>', "pluginName (default: the image's first root id)")
    .option('--apply', 'kubectl apply it instead of printing')
    .addOption(frontHubOption())
    .action(
      async (
        input: string,
        o: {
          name?: string;
          namespace?: string;
          selector?: Record<string, string>;
          phase?: (typeof ISTIO_PHASES)[number];
          priority?: number;
          config?: string;
          rootId?: string;
          apply?: boolean;
          hub?: string;
        },
      ) => {
        const resource = istioWasmPlugin(await resolve(input, o.hub), {
          ...o,
          config: pluginConfig(o.config),
        });
        const yaml = stringify(resource);
        if (o.apply) await kubectlApply(yaml);
        else process.stdout.write(yaml);
      },
    );
  deploy
    .command('envoy')
    .description("Envoy's wasm HTTP filter for the image: the module's URL on the hub and its sha256")
    .argument('<ref>', 'image on a hub')
    .option('--name <name>', 'plugin name (default: the repository name)')
    .option('--cluster <name>', 'the Envoy cluster that reaches the hub', 'wasmgate_hub')
    .option('--config <json|@file>', 'plugin configuration')
    .option('--root-id <id>', "root id (default: the image's first root id)")
    .addOption(frontHubOption())
    .action(
      async (
        input: string,
        o: { name?: string; cluster: string; config?: string; rootId?: string; hub?: string },
      ) => {
        const target = await resolve(input, o.hub);
        let filter: Record<string, unknown>;
        try {
          filter = envoyWasmFilter(target, { ...o, config: pluginConfig(o.config) });
        } catch (e) {
          throw new OciError('format', (e as Error).message);
        }
        process.stdout.write(stringify(filter));
      },
    );
}
