// The admin API of a gateway: its view served on the configured address (loopback by default) with the
// token changes need — the configured one, or one generated now and written where the CLI finds it.

import { rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../control/schema.js';
import { startAdmin } from '../observe/admin.js';
import { defaultAdminTokenFile, generateAdminToken, writeTokenFile } from '../observe/admin-access.js';
import { adminView } from './admin-view.js';
import type { Gateway } from './gateway.js';

export interface AdminListener {
  server: Server;
  port: number;
  address: string;
  /** Where the generated token was written (undefined: the token is configured). */
  tokenFile: string | undefined;
  close(): void;
}

export async function startAdminListener(
  g: Gateway,
  config: NonNullable<GatewayConfig['admin']>,
  baseDir: string,
  logger: Logger,
): Promise<AdminListener> {
  const token = config.token ?? generateAdminToken();
  const { server, port, address } = await startAdmin(adminView(g), config.port, config.address, {
    access: { token, allowedHosts: config.allowedHosts },
    onError: (error, request) => logger.error({ err: error, request }, 'admin request failed'),
  });
  let tokenFile: string | undefined;
  const close = () => {
    server.close();
    server.closeAllConnections();
    if (tokenFile) rmSync(tokenFile, { force: true });
  };
  if (config.token === undefined) {
    // Named by the bound port: with port 0 the file name says which proxy it belongs to.
    const file = config.tokenFile ? resolve(baseDir, config.tokenFile) : defaultAdminTokenFile(port);
    try {
      writeTokenFile(file, token);
    } catch (e) {
      close();
      throw e;
    }
    tokenFile = file;
  }
  logger.info({ port, address, tokenFile }, 'admin listener started');
  return { server, port, address, tokenFile, close };
}
