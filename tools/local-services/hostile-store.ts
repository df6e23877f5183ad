// A storage account as a hostile tenant could run one: a loopback HTTP server that answers each request as the test
// says (any status, any length, chunked or not, slowly or not), counts the connections it is offered and the bytes it
// got to send. What a project's own storage account can do to the service is tried against it
// (test/adapters/guarded-agents.test.ts, test/functions/hostile-tenant.test.ts).
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface HostileAnswer {
  status: number;
  headers?: Record<string, string>;
  /** A body of this many bytes (zeros), written as fast as the reader takes it; 0 or absent: none. */
  bodyBytes?: number;
  /** Leave Content-Length out (a chunked body: its length is not known until it ends). */
  chunked?: boolean;
  /** The body as given (an XML error, a short blob). */
  body?: Buffer | string;
}

export interface HostileRequest {
  method: string;
  path: string;
}

export interface HostileStore {
  port: number;
  /** `http://127.0.0.1:{port}/{account}`: a blob endpoint as Azurite's are spelt. */
  endpointFor(account: string): string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Requests received so far, in order. */
  readonly requests: HostileRequest[];
  /** Body bytes written to sockets so far (what a reader could have read at most). */
  readonly bytesSent: number;
  /** How to answer each next request (default: a 404 BlobNotFound). */
  answer(respond: (request: HostileRequest, index: number) => HostileAnswer): void;
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(64 * 1024);

/** The error Blob Storage answers for a blob that is not there. */
export const BLOB_NOT_FOUND: HostileAnswer = {
  status: 404,
  headers: { 'content-type': 'application/xml', 'x-ms-error-code': 'BlobNotFound' },
  body: '<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>none</Message></Error>',
};

/** A blob's download answer of `bytes` bytes (audio/mpeg), with or without its length. */
export function blobOf(bytes: number, chunked = false): HostileAnswer {
  return {
    status: 200,
    headers: {
      'content-type': 'audio/mpeg',
      'x-ms-blob-type': 'BlockBlob',
      'accept-ranges': 'bytes',
      etag: '"0x8DD0000000000"',
      'last-modified': 'Mon, 07 Dec 2026 00:00:00 GMT',
    },
    bodyBytes: bytes,
    chunked,
  };
}

export async function startHostileStore(): Promise<HostileStore> {
  let respond: (request: HostileRequest, index: number) => HostileAnswer = () => BLOB_NOT_FOUND;
  const requests: HostileRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let bytesSent = 0;

  const server = http.createServer((req, res) => {
    const request = { method: req.method ?? 'GET', path: req.url ?? '/' };
    requests.push(request);
    req.resume(); // whatever was uploaded is not kept
    const answer = respond(request, requests.length - 1);
    const headers: Record<string, string> = { 'x-ms-request-id': String(requests.length), ...answer.headers };
    const body = answer.body === undefined ? undefined : Buffer.from(answer.body);
    const length = body?.length ?? answer.bodyBytes ?? 0;
    if (!answer.chunked) headers['content-length'] = String(length);
    res.writeHead(answer.status, headers);
    if (body) {
      bytesSent += body.length;
      res.end(body);
      return;
    }
    let left = answer.bodyBytes ?? 0;
    const write = () => {
      while (left > 0 && !res.destroyed) {
        const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
        left -= piece.length;
        bytesSent += piece.length;
        if (!res.write(piece)) return void res.once('drain', write);
      }
      if (!res.destroyed) res.end();
    };
    res.on('close', () => (left = 0));
    write();
  });
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // a reader that hangs up midway is what is being tested
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    port,
    endpointFor: (account) => `http://127.0.0.1:${port}/${account}`,
    get connections() {
      return connections;
    },
    requests,
    get bytesSent() {
      return bytesSent;
    },
    answer(next) {
      respond = next;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
