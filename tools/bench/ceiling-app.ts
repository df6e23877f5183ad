// The cold hit's ceiling as a function, for `npm run bench`: ceiling-server.ts's work (one
// indexed lookup with `pg`, one blob GET with the Blob SDK, the bytes out), done by one HTTP
// function under the same local host and Functions library as the app. Beside the bare
// ceiling, it shows how much of the gap is the Functions programming model (the library's
// request and response objects, the host's routing) and how much is the app's own work.
// Bundled like the deployment package (bench-app.ts) and served with `--app`; it reads the
// same settings as ceiling-server.ts (CEILING_KEYS, DATABASE_URL, AZURE_STORAGE_CONNECTION_STRING).
// CEILING_LOOKUP=prisma does the lookup as the app does, through its adapter (PrismaAudioCacheIndex: the Database's pool),
// instead of plain `pg`: what Prisma costs, in the same run.
import { Readable } from 'node:stream';
import { app, type HttpResponseInit } from '@azure/functions';
import { BlobServiceClient } from '@azure/storage-blob';
import pg from 'pg';
import { ConnectRetry } from '../../src/adapters/postgres/connect-retry.ts';
import { Database } from '../../src/adapters/postgres/prisma-client.ts';
import { StallGuard } from '../../src/adapters/stall-guard.ts';
import { PrismaAudioCacheIndex } from '../../src/adapters/postgres/prisma-audio-cache-index.ts';
import type { HttpFunctionDefinition } from '../../src/app/function-definition.ts';

const keys = (process.env.CEILING_KEYS ?? '').split(',').filter(Boolean);
const connections = Number(process.env.CEILING_POOL_MAX ?? 4);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: connections });
const db =
  process.env.CEILING_LOOKUP === 'prisma'
    ? Database.open(process.env.DATABASE_URL ?? '', {
        maxConnections: connections,
        connectRetry: new ConnectRetry(),
        stallGuard: new StallGuard('the database'),
      })
    : undefined;
const index = db && new PrismaAudioCacheIndex(db);

/** The entry's blob path: one indexed lookup. */
async function blobPathOf(key: string): Promise<string> {
  if (index) return (await index.find(key))!.audioBlobPath;
  const { rows } = await pool.query<{ audio_blob_path: string }>(
    'SELECT audio_blob_path FROM audio_cache WHERE cache_key = $1',
    [key],
  );
  return rows[0]!.audio_blob_path;
}
const container = BlobServiceClient.fromConnectionString(
  process.env.AZURE_STORAGE_CONNECTION_STRING ?? '',
).getContainerClient(process.env.AZURE_STORAGE_CONTAINER_NAME ?? 'audio-cache');
let next = 0;

export const ceilingFunction: HttpFunctionDefinition = {
  trigger: 'http',
  name: 'ceiling',
  options: {
    methods: ['POST'],
    route: 'v1/projects/{projectId}/characters/audition',
    authLevel: 'anonymous',
    handler: async (request): Promise<HttpResponseInit> => {
      const key = keys[next++ % keys.length]!;
      await request.arrayBuffer(); // the body, read as the app reads it
      const download = await container.getBlobClient(await blobPathOf(key)).download();
      return {
        status: 200,
        headers: { 'Content-Type': 'audio/mpeg', 'Content-Length': String(download.contentLength) },
        body: Readable.toWeb(download.readableStreamBody as Readable) as ReadableStream<Uint8Array>,
      };
    },
  },
};

app.setup({ enableHttpStream: true });
app.http(ceilingFunction.name, ceilingFunction.options);

/** What the local host reads of an app's configuration: its port and its voice. */
export function parseConfig(): { port: number; speech: { provider: 'azure' } } {
  return { port: Number(process.env.PORT ?? 7071), speech: { provider: 'azure' } };
}

export async function closeWorkerServices(): Promise<void> {
  await Promise.all([pool.end(), db?.close()]);
}
