// The floors the benchmarks measure the app against: an app of one function on the audition's route, bundled like the
// deployment package (tools/package.ts) and served by the same local host. What no app can beat: the host, the
// Functions library, one function.
// - start-up.ts (`npm run bench:cold`, `npm run bench`): it answers a constant (start → first answer).
// - cpu-probe.ts (`npm run bench:profile`, `npm run bench`), with BENCH_AUDIO_FILE: it reads the body and answers those
//   bytes with a warm HIT's headers (CPU per answer).
import { readFileSync } from 'node:fs';
import { app, type HttpResponseInit } from '@azure/functions';
import type { HttpFunctionDefinition } from '../../src/app/function-definition.ts';
import { EXPOSED_HEADERS } from '../../src/handlers/audition-response.ts';

const audioFile = process.env.BENCH_AUDIO_FILE;

/** A warm HIT's answer (audition-response.ts), its headers as constants. */
function hitAnswer(file: string): HttpResponseInit {
  const audio = new Uint8Array(readFileSync(file));
  const headers = {
    'Content-Type': 'audio/mpeg',
    'X-Cache-Status': 'HIT-L2',
    'Cache-Control': 'public, max-age=1800',
    ETag: `"${'0'.repeat(64)}"`,
    'Content-Disposition': 'inline; filename="es-PE-CamilaNeural-audition.mp3"',
    'Access-Control-Expose-Headers': EXPOSED_HEADERS,
    'Server-Timing': 'tier;desc=memory, auth;dur=0.1, lookup;dur=0.1, total;dur=0.3',
    'Content-Length': String(audio.length),
    'X-Audio-Duration': '4.000',
  };
  return { status: 200, headers, body: audio };
}

const answer: HttpResponseInit = audioFile ? hitAnswer(audioFile) : { status: 200, body: 'ok' };

export const constantFunction: HttpFunctionDefinition = {
  trigger: 'http',
  name: 'constant',
  options: {
    methods: ['POST'],
    route: 'v1/projects/{projectId}/characters/audition',
    authLevel: 'anonymous',
    handler: async (request) => {
      if (audioFile) await request.text(); // the body is read, as an audition's is
      return answer;
    },
  },
};

app.http(constantFunction.name, constantFunction.options);

/** What the local host reads of an app's configuration: its port and its voice. */
export function parseConfig(): { port: number; speech: { provider: 'azure' } } {
  return { port: Number(process.env.PORT ?? 7071), speech: { provider: 'azure' } };
}

export function closeWorkerServices(): Promise<void> {
  return Promise.resolve();
}
