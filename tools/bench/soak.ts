// npm run soak — 50,000 mixed requests at 64 connections against the local host (not part of
// npm test). Starts PostgreSQL, Azurite, the speech stand-in and `node dist/tools/serve.js`,
// then drives hits, misses, invalid bodies and unauthorized calls with autocannon and reports
// the status histogram, any status the request's kind does not allow, and the host's RSS
// before and after.
import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';
import { saveResult, startBenchStack } from './bench-stack.ts';

const TOTAL = Number(process.env.SOAK_REQUESTS ?? 50_000);
const CONNECTIONS = 64;
const WARM_LINES = 50;
type Kind = 'hit' | 'miss' | 'invalid' | 'unauthorized';
const ALLOWED: Record<Kind, number[]> = { hit: [200], miss: [200], invalid: [400], unauthorized: [401] };

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function main() {
  const stack = await startBenchStack({ toneSeconds: 1, durable: false });
  const { standIn } = stack;
  try {
    let unexpectedLogLines = 0;
    // The memory tier grows until it reaches MEMORY_CACHE_MB, by design. A leak check must not
    // count that: the tier is kept at 16 MB here, and the warm-up (30,000 requests, 3,000 new
    // lines of ~6 KB) fills it before RSS is first read.
    const host = await stack.startHost({ MEMORY_CACHE_MB: '16' }, (line) => {
      if (/\berror\b/i.test(line) && !line.includes('audition failed')) unexpectedLogLines++;
    });
    const url = `http://127.0.0.1:${host.port}/api/v1/projects/${stack.projectId}/characters/audition`;
    const headers = { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' };
    const hitBody = (i: number) =>
      JSON.stringify({ voice: 'es-AR-ElenaNeural', text: `Línea caliente número ${i}`, style: 'cheerful' });
    for (let i = 0; i < WARM_LINES; i++)
      await fetch(url, { method: 'POST', headers, body: hitBody(i) }).then((r) => r.arrayBuffer());

    let sequence = 0;
    const kinds: Kind[] = [];
    const run = (amount: number) => {
      let finish!: (result: autocannon.Result) => void;
      let fail!: (error: unknown) => void;
      const done = new Promise<autocannon.Result>((resolve, reject) => {
        finish = resolve;
        fail = reject;
      });
      const instance = autocannon(
        {
          url,
          connections: CONNECTIONS,
          amount,
          requests: [
            {
              setupRequest: (request) => {
                const n = sequence++;
                const roll = n % 10; // 70 % hits, 10 % misses, 10 % invalid, 10 % unauthorized
                const kind: Kind = roll < 7 ? 'hit' : roll === 7 ? 'miss' : roll === 8 ? 'invalid' : 'unauthorized';
                kinds.push(kind);
                return {
                  ...request,
                  method: 'POST',
                  headers:
                    kind === 'unauthorized'
                      ? { 'content-type': 'application/json', authorization: 'Bearer not-a-token' }
                      : headers,
                  body:
                    kind === 'hit'
                      ? hitBody(n % WARM_LINES)
                      : kind === 'miss'
                        ? JSON.stringify({ voice: 'es-AR-ElenaNeural', text: `Línea nueva ${n}` })
                        : kind === 'invalid'
                          ? JSON.stringify({ voice: 'Elena', text: '' })
                          : hitBody(0),
                };
              },
            },
          ],
        },
        (error, result) => (error ? fail(error) : finish(result)),
      );
      return { instance, done };
    };

    // Warm-up (JIT, pools, V8 heap sizing), then the measured run.
    await run(Number(process.env.SOAK_WARMUP ?? 30_000)).done;
    const rssStart = await rssMb(host.child.pid!);
    sequence = 0;
    kinds.length = 0;
    const statuses = new Map<number, number>();
    const unexpected = new Map<string, number>();
    let responses = 0;
    const { instance, done } = run(TOTAL);
    // autocannon answers in order per connection but not globally: pair each response with
    // the kind by counting per status class instead of per request.
    instance.on('response', (_client, statusCode) => {
      statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
      responses++;
    });
    const result = await done;
    const rssEnd = await rssMb(host.child.pid!);

    const expectedByStatus = new Map<number, number>();
    for (const kind of kinds)
      for (const s of ALLOWED[kind]) expectedByStatus.set(s, (expectedByStatus.get(s) ?? 0) + 1);
    for (const [status, count] of statuses) {
      const expected = expectedByStatus.get(status) ?? 0;
      if (count !== expected) unexpected.set(String(status), count - expected);
    }
    const growth = (rssEnd - rssStart) / rssStart;
    await saveResult('soak-latest', {
      requests: responses,
      connections: CONNECTIONS,
      seconds: +result.duration.toFixed(1),
      requests_per_second: Math.round(result.requests.average),
      latency_p50_ms: result.latency.p50,
      latency_p99_ms: result.latency.p99,
      errors: result.errors,
      timeouts: result.timeouts,
      host_rss_start_mb: +rssStart.toFixed(1),
      host_rss_end_mb: +rssEnd.toFixed(1),
      rss_growth_percent: +(growth * 100).toFixed(1),
      speech_requests: standIn.received.length,
      error_log_lines: unexpectedLogLines,
    });
    console.log('status histogram', Object.fromEntries([...statuses].sort()));
    console.log('unexpected statuses (count beyond what the request kinds allow)', Object.fromEntries(unexpected));
    const ok = unexpected.size === 0 && result.errors === 0 && result.timeouts === 0 && growth < 0.1;
    console.log(ok ? 'PASS: no unexpected status, RSS growth under 10 %' : 'FAIL');
    process.exitCode = ok ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
