// The cold hit's ceiling for `npm run bench`: a process doing only the work no cold hit can
// skip — one indexed lookup with `pg`, one blob GET with the Blob SDK, the bytes out — and
// nothing else (no token, no project check, no cache key, no play counting, no Prisma).
//
// Run as its own process, like the host it is compared with:
//   DATABASE_URL=… AZURE_STORAGE_CONNECTION_STRING=… PORT=… CEILING_KEYS=k1,k2,… node dist/tools/bench/ceiling-server.js
// Each request reads its body and answers the next key of CEILING_KEYS in turn (the host's
// requests rotate over the same entries). Its pool has as many connections as the host's
// Prisma pool by default (DATABASE_POOL_MAX 5, one of them kept for locks: 4).
import http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { BlobServiceClient } from '@azure/storage-blob';
import pg from 'pg';

const keys = (process.env.CEILING_KEYS ?? '').split(',').filter(Boolean);
if (keys.length === 0) throw new Error('CEILING_KEYS: the cache keys to answer, comma-separated');
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.CEILING_POOL_MAX ?? 4),
});
const container = BlobServiceClient.fromConnectionString(
  process.env.AZURE_STORAGE_CONNECTION_STRING ?? '',
).getContainerClient(process.env.AZURE_STORAGE_CONTAINER_NAME ?? 'audio-cache');

let next = 0;
const server = http.createServer((request, response) => {
  const key = keys[next++ % keys.length]!;
  const answer = async () => {
    for await (const chunk of request) void chunk; // the body, read as the host reads it
    const { rows } = await pool.query<{ audio_blob_path: string }>(
      'SELECT audio_blob_path FROM audio_cache WHERE cache_key = $1',
      [key],
    );
    const download = await container.getBlobClient(rows[0]!.audio_blob_path).download();
    response.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': download.contentLength });
    await pipeline(download.readableStreamBody!, response);
  };
  answer().catch((error: unknown) => {
    // A run's end closes connections mid-answer: not worth a line.
    if ((error as { code?: string }).code !== 'ERR_STREAM_PREMATURE_CLOSE') console.error(error);
    if (!response.headersSent) response.writeHead(500);
    response.end();
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`Listening on ${process.env.PORT}`));
process.once('SIGINT', () => {
  server.close();
  server.closeAllConnections();
  void pool.end().then(() => process.exit(0));
});
