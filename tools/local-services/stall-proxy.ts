import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy in front of a real service (Postgres, Azurite, the speech stand-in) that can make
 * it hang the way a stopped process or a black-holed network does: connections are accepted
 * and kept open, and not one byte goes either way until `resume()`. Bytes that arrive while it
 * is paused are held, in order, and delivered on resume, so nothing is lost or reordered.
 */
export interface StallProxy {
  /** The port to connect to instead of the service's. */
  port: number;
  /** Stops forwarding, both ways, on open and new connections (they stay open). */
  pause(): void;
  /** Forwards again, delivering what was held first. */
  resume(): void;
  /** Connections open now (each a client and its upstream). */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startStallProxy(target: { host?: string; port: number }): Promise<StallProxy> {
  let paused = false;
  const links = new Set<Link>();

  interface Link {
    client: net.Socket;
    upstream?: net.Socket;
    /** Held while paused: to the upstream, and to the client. */
    toUpstream: Buffer[];
    toClient: Buffer[];
  }

  const connectUpstream = (link: Link) => {
    const upstream = net.connect({ host: target.host ?? '127.0.0.1', port: target.port });
    link.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => (paused ? link.toClient.push(chunk) : link.client.write(chunk)));
    upstream.on('error', () => link.client.destroy());
    upstream.on('close', () => link.client.destroy());
    flush(link);
  };

  const flush = (link: Link) => {
    if (link.upstream) for (const chunk of link.toUpstream.splice(0)) link.upstream.write(chunk);
    for (const chunk of link.toClient.splice(0)) link.client.write(chunk);
  };

  const server = net.createServer((client) => {
    const link: Link = { client, toUpstream: [], toClient: [] };
    links.add(link);
    client.on('data', (chunk: Buffer) => (paused || !link.upstream ? link.toUpstream.push(chunk) : link.upstream.write(chunk)));
    client.on('error', () => link.upstream?.destroy());
    client.on('close', () => {
      links.delete(link);
      link.upstream?.destroy();
    });
    // A connection made while paused reaches nobody until resume: like a server whose kernel
    // accepts connections for a process that is not running.
    if (!paused) connectUpstream(link);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    port: (server.address() as AddressInfo).port,
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      for (const link of links) {
        if (link.upstream) flush(link);
        else connectUpstream(link);
      }
    },
    get connections() {
      return links.size;
    },
    async close() {
      for (const link of links) {
        link.client.destroy();
        link.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
