// The warm HIT's floor in `npm run bench:profile`: an app of one function that answers the same MP3 bytes on the
// audition's route, with the headers a HIT carries, bundled like the deployment package and served by the same local
// host. What the host, the Functions library and one function cost per answer, before any of our work.
import { readFileSync } from 'node:fs';
import { app } from '@azure/functions';
import type { HttpFunctionDefinition } from '../../src/app/function-definition.ts';

const audio = new Uint8Array(readFileSync(process.env.BENCH_AUDIO_FILE ?? ''));
// The headers of a warm HIT (audition-response.ts), as constants.
const headers = {
  'Content-Type': 'audio/mpeg',
  'X-Cache-Status': 'HIT-L2',
  'Cache-Control': 'public, max-age=1800',
  ETag: `"${'0'.repeat(64)}"`,
  'Content-Disposition': 'inline; filename="es-PE-CamilaNeural-audition.mp3"',
  'Access-Control-Expose-Headers': 'X-Cache-Status, X-Audio-Duration, ETag, Server-Timing, Content-Disposition',
  'Server-Timing': 'tier;desc=memory, auth;dur=0.1, lookup;dur=0.1, total;dur=0.3',
  'Content-Length': String(audio.length),
  'X-Audio-Duration': '4.000',
};

export const bytesFunction: HttpFunctionDefinition = {
  trigger: 'http',
  name: 'bytes',
  options: {
    methods: ['POST'],
    route: 'v1/projects/{projectId}/characters/audition',
    authLevel: 'anonymous',
    handler: async (request) => {
      await request.text(); // the body is read, as the audition's is
      return { status: 200, headers, body: audio };
    },
  },
};

app.http(bytesFunction.name, bytesFunction.options);

/** What the local host reads of an app's configuration: its port and its voice. */
export function parseConfig(): { port: number; speech: { provider: 'azure' } } {
  return { port: Number(process.env.PORT ?? 7071), speech: { provider: 'azure' } };
}

export function closeWorkerServices(): Promise<void> {
  return Promise.resolve();
}
