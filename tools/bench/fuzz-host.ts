// npm run fuzz:host — hostile raw HTTP against the local host (not part of npm test; the suite
// runs a few hundred of the same requests). Starts PostgreSQL, Azurite, the speech stand-in and
// `node dist/tools/serve.js` (what `npm run serve` runs), then sends FUZZ_REQUESTS (2,500)
// generated requests, FUZZ_CONCURRENCY (8) at a time, each on its own connection: bad escapes
// in path ids, bad or doubled Host headers, credentials in the URL, absolute-form and odd
// request targets, odd and huge headers, bad methods and versions, broken chunked bodies and
// hostile JSON on every route, with valid and invalid tokens. Prints the statuses, per kind
// too, and fails on any 5xx, any request left unanswered, any error the host did not answer
// as problem+json (405 excepted: Allow, no body), or an error line in the host's log.
// FUZZ_SEED replays a run.
import { farSchedule, sampleHostileRequests, sendRaw, violationOf, type HostileRequest } from './hostile-http.ts';
import { saveResult, startBenchStack } from './bench-stack.ts';

const TOTAL = Number(process.env.FUZZ_REQUESTS ?? 2_500);
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 8);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

async function main() {
  const stack = await startBenchStack({ toneSeconds: 0.3, durable: false });
  try {
    const other = await stack.addTenant('Other');
    const hostLog: string[] = [];
    // A schedule months away: a host whose timer fired early or in a loop would show it here.
    const host = await stack.startHost({ CACHE_CLEANUP_SCHEDULE: farSchedule(new Date()) }, (line) =>
      hostLog.push(line),
    );
    const requests = sampleHostileRequests(
      { port: host.port, projectId: stack.projectId, tokens: [stack.token, other.token] },
      TOTAL,
      SEED,
    );

    const byKind = new Map<string, Map<string, number>>();
    const statuses = new Map<string, number>();
    const violations: string[] = [];
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const request: HostileRequest = requests[next++]!;
        const answer = await sendRaw(host.port, request);
        const status = answer ? String(answer.status) : 'no answer';
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        const kind = byKind.get(request.kind) ?? new Map<string, number>();
        byKind.set(request.kind, kind.set(status, (kind.get(status) ?? 0) + 1));
        const violation = violationOf(answer, request.method);
        if (violation)
          violations.push(
            `${violation}: ${request.kind}: ${JSON.stringify(request.bytes.subarray(0, 160).toString('latin1'))}`,
          );
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (performance.now() - started) / 1000;
    const health = await fetch(`http://127.0.0.1:${host.port}/api/health`);

    const errorLines = hostLog.filter((line) => /Unhandled error|error: local host/.test(line));
    const cleanupRuns = hostLog.filter((line) => line.includes("Executing 'cleanup'")).length;
    const count = (match: (status: string) => boolean) =>
      [...statuses].filter(([s]) => match(s)).reduce((sum, [, n]) => sum + n, 0);
    const histogram = (map: Map<string, number>) =>
      [...map]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([s, n]) => `${s} × ${n}`)
        .join(', ');
    console.log('\nstatuses per kind of request:');
    for (const [kind, counts] of [...byKind].sort(([a], [b]) => a.localeCompare(b)))
      console.log(`  ${kind.padEnd(30)} ${histogram(counts)}`);
    await saveResult('fuzz-host-latest', {
      requests: requests.length,
      seed: SEED,
      concurrency: CONCURRENCY,
      seconds: +seconds.toFixed(1),
      statuses: histogram(statuses),
      status_5xx: count((s) => s.startsWith('5')),
      unanswered: count((s) => s === 'no answer'),
      violations: violations.length,
      host_error_lines: errorLines.length,
      cleanup_runs: cleanupRuns,
      health_after: health.status,
      speech_requests: stack.standIn.received.length,
    });
    for (const line of [...violations.slice(0, 20), ...errorLines.slice(0, 10)]) console.log(`  ${line}`);
    const ok = violations.length === 0 && errorLines.length === 0 && cleanupRuns === 0 && health.status === 200;
    console.log(ok ? `PASS: ${requests.length} hostile requests, 0 × 5xx, every error problem+json` : 'FAIL');
    process.exitCode = ok ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
