import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a server that a test can freeze: while frozen, nothing the clients send
 * reaches the server (new connections included), so a client's query hangs as it would against a
 * stuck target. Thawing delivers what was held, in order. A `tap` sees every byte the clients send
 * as it is forwarded (PostgresStatementLog reads statements off it).
 */
export interface ProxyTap {
  read(connection: number, chunk: Buffer): void;
  closed(connection: number): void;
}

export class FreezableProxy {
  private frozen = false;
  private readonly connections = new Set<{ id: number; client: Socket; upstream: Socket; held: Buffer[] }>();
  private opened = 0;

  private constructor(
    private readonly server: Server,
    private readonly tap: ProxyTap | undefined,
  ) {}

  static async start(target: { host: string; port: number }, tap?: ProxyTap): Promise<FreezableProxy> {
    const server = createServer();
    const proxy = new FreezableProxy(server, tap);
    server.on('connection', (client) => proxy.accept(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Connections currently open through the proxy. */
  get openConnections(): number {
    return this.connections.size;
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const connection of this.connections) {
      for (const chunk of connection.held.splice(0)) this.forward(connection, chunk);
    }
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.connections) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    const upstream = connect(target.port, target.host);
    const connection = { id: ++this.opened, client, upstream, held: [] as Buffer[] };
    this.connections.add(connection);
    client.on('data', (chunk: Buffer) => {
      if (this.frozen) connection.held.push(chunk);
      else this.forward(connection, chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const close = () => {
      if (this.connections.delete(connection)) this.tap?.closed(connection.id);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  }

  private forward(connection: { id: number; upstream: Socket }, chunk: Buffer): void {
    this.tap?.read(connection.id, chunk);
    connection.upstream.write(chunk);
  }
}
