import net from 'node:net';

/** Which way bytes flow through the proxy: from the client to the server, or back. */
export type Direction = 'toServer' | 'toClient';

/** One client's connection through the proxy, as a test waits on it. */
export interface ProxiedConnection {
  /** Bytes read from one side and not yet passed on (held while that direction is paused), a copy. */
  readonly held: Readonly<Record<Direction, Buffer>>;
  /**
   * The proxy's own port on its connection to the server: the client's port as the server
   * sees it (Postgres's pg_stat_activity.client_port), to find the server's end of it.
   */
  readonly upstreamLocalPort: number | undefined;
  /** Whether the server closed its side (its last bytes, if held, are still passed on at resume). */
  readonly serverEnded: boolean;
  /** Whether the client closed its side. */
  readonly clientEnded: boolean;
}

/**
 * A TCP proxy a test controls, between a client and a server it does not otherwise touch:
 * it can stall them (a dependency that accepts connections and stops answering), hold one
 * direction's bytes and pass them on at a chosen moment (two messages the server sent apart,
 * delivered to the client together), or cut every connection (a network failure).
 */
export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** The connections open through the proxy, oldest first. */
  readonly connections: readonly ProxiedConnection[];
  /**
   * Stops forwarding (both ways unless told otherwise). Every socket stays open, bytes and a
   * side's close are read and held (in memory, unbounded: a test tool), and new connections
   * are accepted and held the same way.
   */
  pause(directions?: readonly Direction[]): void;
  /** Forwards again: what was held goes out first, each connection's in one write, then a held close. */
  resume(directions?: readonly Direction[]): void;
  /** Destroys every connection on both sides at once (resets, not orderly closes). */
  cutAll(): void;
  /** Stops listening and cuts every connection. */
  close(): Promise<void>;
}

/** Starts a proxy on a free loopback port, forwarding every connection to `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const paused = new Set<Direction>();
  const pairs = new Set<Pair>();

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    const pair = new Pair(client, upstream, paused);
    pairs.add(pair);
    pair.closed.then(
      () => pairs.delete(pair),
      () => pairs.delete(pair),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as net.AddressInfo;

  return {
    host: address,
    port,
    get connections() {
      return [...pairs].map((pair) => pair.state());
    },
    pause(directions = ['toServer', 'toClient']) {
      for (const direction of directions) paused.add(direction);
    },
    resume(directions = ['toServer', 'toClient']) {
      for (const direction of directions) paused.delete(direction);
      for (const pair of pairs) pair.flush();
    },
    cutAll() {
      for (const pair of pairs) pair.destroy();
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const pair of pairs) pair.destroy();
      await closed;
    },
  };
}

/** One proxied connection: a client socket and its upstream socket, with what each way holds. */
class Pair {
  readonly #sockets: Record<Direction, { from: net.Socket; to: net.Socket }>;
  readonly #held: Record<Direction, Buffer[]> = { toServer: [], toClient: [] };
  /** Whether the side each direction reads from has closed: passed on after its last bytes. */
  readonly #ended: Record<Direction, boolean> = { toServer: false, toClient: false };
  readonly #endSent: Record<Direction, boolean> = { toServer: false, toClient: false };
  readonly #paused: ReadonlySet<Direction>;
  readonly closed: Promise<void>;

  constructor(client: net.Socket, upstream: net.Socket, paused: ReadonlySet<Direction>) {
    this.#paused = paused;
    this.#sockets = { toServer: { from: client, to: upstream }, toClient: { from: upstream, to: client } };
    // Either side failing ends the pair: a proxy that kept half a broken connection would show
    // the other side a stall it did not ask for.
    client.on('error', () => this.destroy());
    upstream.on('error', () => this.destroy());
    // A side gone without an orderly close (destroyed, reset): nothing is left to pass on.
    client.on('close', () => {
      if (!this.#ended.toServer) this.destroy();
    });
    upstream.on('close', () => {
      if (!this.#ended.toClient) this.destroy();
    });
    for (const direction of ['toServer', 'toClient'] as const) {
      const { from } = this.#sockets[direction];
      from.on('data', (chunk: Buffer) => {
        this.#held[direction].push(chunk);
        this.#flushOne(direction);
      });
      from.on('end', () => {
        this.#ended[direction] = true;
        this.#flushOne(direction);
      });
    }
    const closeOf = (socket: net.Socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.closed = Promise.all([closeOf(client), closeOf(upstream)]).then(() => undefined);
  }

  state(): ProxiedConnection {
    return {
      held: { toServer: Buffer.concat(this.#held.toServer), toClient: Buffer.concat(this.#held.toClient) },
      upstreamLocalPort: this.#sockets.toServer.to.localPort,
      serverEnded: this.#ended.toClient,
      clientEnded: this.#ended.toServer,
    };
  }

  flush(): void {
    this.#flushOne('toServer');
    this.#flushOne('toClient');
  }

  /** Resets both sides (RST): each peer sees its connection fail, as when a network drops it, not an orderly close. */
  destroy(): void {
    for (const socket of [this.#sockets.toServer.from, this.#sockets.toClient.from]) {
      if (!socket.destroyed) socket.resetAndDestroy();
    }
  }

  #flushOne(direction: Direction): void {
    if (this.#paused.has(direction)) return;
    const { to } = this.#sockets[direction];
    const held = this.#held[direction];
    // Everything held in ONE write: bytes the other side sent apart arrive together.
    if (held.length > 0 && !to.destroyed) to.write(held.length === 1 ? held[0]! : Buffer.concat(held));
    held.length = 0;
    if (this.#ended[direction] && !this.#endSent[direction]) {
      this.#endSent[direction] = true;
      to.end();
    }
  }
}
