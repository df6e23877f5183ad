import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../../tools/local-services/tcp-proxy.ts';

/** A server that records what each connection sent, and answers what a test tells it to. */
async function startServer() {
  const sockets: net.Socket[] = [];
  const received: string[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const index = sockets.push(socket) - 1;
    received[index] = '';
    socket.on('error', () => {}); // a cut resets it
    socket.on('data', (chunk: Buffer) => (received[index] += chunk.toString()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    sockets,
    received,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A client through the proxy, recording every read (each 'data' event) apart. */
async function connect(proxy: TcpProxy) {
  const socket = net.connect({ host: proxy.host, port: proxy.port, allowHalfOpen: true });
  const reads: string[] = [];
  let ended = false;
  socket.on('data', (chunk: Buffer) => reads.push(chunk.toString()));
  socket.on('end', () => (ended = true));
  socket.on('error', () => {}); // a cut resets it
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, reads, ended: () => ended };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp() {
  const server = await startServer();
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
  cleanups.push(
    () => server.close(),
    () => proxy.close(),
  );
  return { server, proxy };
}

describe('startTcpProxy', () => {
  it('forwards both ways, and tells the server’s view of each connection', async () => {
    const { server, proxy } = await setUp();
    const client = await connect(proxy);
    client.socket.write('hello');
    await vi.waitFor(() => expect(server.received[0]).toBe('hello'));
    server.sockets[0]!.write('welcome');
    await vi.waitFor(() => expect(client.reads.join('')).toBe('welcome'));
    expect(proxy.connections).toHaveLength(1);
    expect(proxy.connections[0]!.upstreamLocalPort).toBe(server.sockets[0]!.remotePort);
  });

  it('holds everything while paused, new connections included, keeping the sockets open; resume passes it on in order, one write each', async () => {
    const { server, proxy } = await setUp();
    const client = await connect(proxy);
    proxy.pause();
    client.socket.write('question');
    await vi.waitFor(() => expect(server.sockets).toHaveLength(1));
    server.sockets[0]!.write('first ');
    await vi.waitFor(() => expect(proxy.connections[0]!.held.toClient.toString()).toBe('first '));
    server.sockets[0]!.end('and last');
    await vi.waitFor(() => expect(proxy.connections[0]!.serverEnded).toBe(true));
    const late = await connect(proxy);
    late.socket.write('late');
    await vi.waitFor(() => expect(proxy.connections[1]?.held.toServer.toString()).toBe('late'));

    expect(proxy.connections[0]!.held.toServer.toString()).toBe('question');
    expect(server.received[0]).toBe('');
    expect(client.reads).toEqual([]);
    expect(client.ended()).toBe(false);

    proxy.resume();
    await vi.waitFor(() => expect(client.ended()).toBe(true));
    expect(client.reads).toEqual(['first and last']); // apart at the server, together at the client
    await vi.waitFor(() => expect(server.received).toEqual(['question', 'late']));
  });

  it('pauses one direction alone', async () => {
    const { server, proxy } = await setUp();
    const client = await connect(proxy);
    await vi.waitFor(() => expect(server.sockets).toHaveLength(1));
    proxy.pause(['toClient']);
    client.socket.write('ping');
    server.sockets[0]!.write('pong');
    await vi.waitFor(() => expect(server.received[0]).toBe('ping'));
    await vi.waitFor(() => expect(proxy.connections[0]!.held.toClient.toString()).toBe('pong'));
    proxy.resume(['toClient']);
    await vi.waitFor(() => expect(client.reads).toEqual(['pong']));
  });

  it('cuts every connection on both sides at once', async () => {
    const { server, proxy } = await setUp();
    const clients = [await connect(proxy), await connect(proxy)];
    await vi.waitFor(() => expect(server.sockets).toHaveLength(2));
    const closed = [...clients.map((c) => c.socket), ...server.sockets].map(
      (socket) => new Promise((resolve) => socket.once('close', resolve)),
    );
    proxy.cutAll();
    await Promise.all(closed); // reset: half-open-allowing sockets would stay open after an orderly close
    await vi.waitFor(() => expect(proxy.connections).toEqual([]));
  });
});
