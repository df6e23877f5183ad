// npm run build && node dist/tools/bench/miss-split.js — where a miss's overhead goes (not part of npm test).
//
// HOST_ROOT=/path/to/another/checkout runs that checkout's dist/tools/serve.js on the same stack (before/after pairs);
// HOST_ENV='{"NAME":"value"}' adds settings to the host; MISSES (40) after 5 unmeasured.
//
// One host on the bench stack (speech stand-in: first chunk after 150 ms, then 4 KB every 25 ms), N sequential misses
// of the web client's body; for each, from the client's clock and the stand-in's (same process, performance.now()):
// before = request sent → SSML at the stand-in (auth, lookups, lease, budget, the speech connection and its setup
// messages), after = the stand-in's turn.end → the response's end (the SDK's result, keeping the audio), first-byte
// lag = the stand-in's first audio → the client's first byte, and the response's Server-Timing phases.
import http from 'node:http';
import { startBenchStack, stopHost } from './bench-stack.ts';

const N = Number(process.env.MISSES ?? 40);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main() {
  const stack = await startBenchStack({ toneSeconds: 4, durable: true, hostRoot: process.env.HOST_ROOT });
  try {
    stack.standIn.behave({ kind: 'audio', delayMs: 150, chunkIntervalMs: 25 });
    const host = await stack.startHost(JSON.parse(process.env.HOST_ENV ?? '{}') as NodeJS.ProcessEnv);
    const url = `http://127.0.0.1:${host.port}/api/v1/projects/${stack.projectId}/characters/audition`;
    const rows: Record<string, number>[] = [];
    for (let i = 0; i < N + 5; i++) {
      const body = JSON.stringify({
        voice: { id: 'es-PE-CamilaNeural', engine: 'azure', locale: 'es-PE', gender: 'F', styles: ['cheerful'] },
        text: `Línea de prueba ${process.pid}-${i}, con algo de texto para que suene a audición.`,
        style: 'cheerful',
        page: 'casting',
      });
      const started = performance.now();
      const { firstByte, ended, timing, status } = await new Promise<{
        firstByte: number;
        ended: number;
        timing: string;
        status: number;
      }>((resolve, reject) => {
        const req = http.request(
          url,
          { method: 'POST', headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' } },
          (res) => {
            let first: number | undefined;
            res.on('data', () => (first ??= performance.now()));
            res.on('end', () =>
              resolve({
                firstByte: first ?? performance.now(),
                ended: performance.now(),
                timing: String(res.headers['server-timing'] ?? ''),
                status: res.statusCode ?? 0,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      if (status !== 200) throw new Error(`status ${status}`);
      const turn = stack.standIn.received.at(-1)!;
      if (i < 5) continue; // warm-up
      const phases = Object.fromEntries(
        timing.split(', ').flatMap((p) => {
          const m = /^(\w+);dur=([\d.]+)/.exec(p);
          return m ? [[`st_${m[1]}`, Number(m[2])]] : [];
        }),
      );
      rows.push({
        before: turn.receivedAt - started,
        after: ended - turn.endedAt!,
        overhead: ended - started - (turn.endedAt! - turn.receivedAt),
        first_byte_lag: firstByte - turn.firstAudioAt!,
        ...phases,
      });
      await new Promise((r) => setTimeout(r, Number(process.env.PAUSE_MS ?? 20)));
    }
    const keys = Object.keys(rows[0]!);
    const medians = Object.fromEntries(keys.map((k) => [k, +median(rows.map((r) => r[k]!)).toFixed(2)]));
    // Speech connections the stand-in was offered for all the misses (kept ones are reused).
    console.log(JSON.stringify({ ...medians, speech_connections: stack.standIn.connections, misses: N + 5 }));
    await stopHost(host.child);
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
