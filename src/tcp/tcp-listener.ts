// A listening socket for TCP proxying, plain or terminating TLS (the listener's tls settings, as HTTP
// listeners use them). Each accepted connection is handed to the session factory; the listener keeps the
// open ones so that a shutdown or a removed listener can close them.

import { readFileSync } from 'node:fs';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { ListenerConfig } from '../control/schema.js';
import { LiveSet } from '../util/live-set.js';

export type ConnectionHandler = (socket: Socket) => void;

export class TcpListener {
  private server: Server | undefined;
  private readonly sockets = new LiveSet<Socket>();
  port = 0;

  constructor(
    public config: ListenerConfig,
    private readonly handler: ConnectionHandler,
  ) {}

  async listen(): Promise<number> {
    const c = this.config;
    // Both directions close on their own (half-close).
    const options = { allowHalfOpen: true };
    const onSocket = (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.handler(socket);
    };
    const server = c.tls
      ? createTlsServer(
          { ...options, cert: readFileSync(c.tls.certFile), key: readFileSync(c.tls.keyFile) },
          onSocket,
        )
      : createNetServer(options, onSocket);
    // A client that fails its TLS handshake never becomes a connection: nothing to proxy.
    server.on('tlsClientError', (_e, socket) => socket.destroy());
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(c.port, c.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    this.port = typeof a === 'object' && a ? a.port : c.port;
    return this.port;
  }

  /** The same bind with other settings (a new generation): new connections use them. */
  reconfigure(config: ListenerConfig): void {
    this.config = config;
  }

  get connections(): number {
    return this.sockets.size;
  }

  stopAccepting(): void {
    this.server?.close();
  }

  destroyAll(): void {
    for (const s of [...this.sockets]) s.destroy();
  }
}
