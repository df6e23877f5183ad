// npm run bench:scale — scale-out on one database (not part of npm test).
//
// Starts PostgreSQL, Azurite and the speech stand-in, creates a login role whose
// CONNECTION LIMIT is C (as a small Azure server's max_connections would be), and runs N
// instances of the local host (`node dist/tools/serve.js`) that all connect as that role. Then
// autocannon drives mixed load at every instance at once: half the requests repeat lines
// already cached, half ask for new lines, and each new line is asked for COPIES times in a row
// (so different instances race for it, which the line's cross-instance lease must turn into one
// synthesis). Two runs on the same instances: steady, then with Postgres restarted (fast
// shutdown: every connection cut) a third of the way in.
//
// Printed per run: instances, C, requests, statuses, cache statuses, syntheses per distinct
// new line, peak connections of the role in pg_stat_activity, connections the role limit
// refused, p50/p99; the restart run also per window (before / restart window / after).
// Written to bench/results/scale-latest.json (SCALE_LABEL names another file, for a
// before/after comparison with SCALE_HOST_ROOT pointing at another checkout's build).
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { saveResult, startBenchStack, type BenchStack } from './bench-stack.ts';

const INSTANCES = Number(process.env.SCALE_INSTANCES ?? 6);
const CONNECTION_LIMIT = Number(process.env.SCALE_CONNECTION_LIMIT ?? 35);
const POOL_MAX = process.env.SCALE_POOL_MAX ?? '5';
const SECONDS = Number(process.env.SCALE_SECONDS ?? 45);
const CONCURRENCY = Number(process.env.SCALE_CONCURRENCY ?? 48);
const HOST_ROOT = process.env.SCALE_HOST_ROOT ? path.resolve(process.env.SCALE_HOST_ROOT) : undefined;
const LABEL = process.env.SCALE_LABEL ?? 'latest';
const HOT_LINES = 100;
const COPIES = 3;
/** The stand-in's first audio byte comes this long after the SSML (a typical Azure first-chunk time). */
const SPEECH_LATENCY_MS = 200;
/** After Postgres is back, requests may still be finishing their bounded wait (5 s connection timeout). */
const RECOVERY_MS = 6_000;
const ROLE = 'khipu_app';

type Window = 'before' | 'restart' | 'after';
interface Tally {
  requests: number;
  statuses: Record<string, number>;
  cache: Record<string, number>;
  latencies: number[];
}
const tally = (): Tally => ({ requests: 0, statuses: {}, cache: {}, latencies: [] });
const bump = (record: Record<string, number>, key: string) => (record[key] = (record[key] ?? 0) + 1);
const percentile = (values: number[], p: number) =>
  values.length === 0
    ? 0
    : [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;

async function createLimitedRole(adminUrl: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${ROLE}' CONNECTION LIMIT ${CONNECTION_LIMIT}`);
    await admin.query(`GRANT USAGE ON SCHEMA public TO ${ROLE}`);
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${ROLE}`);
    await admin.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${ROLE}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.username = ROLE;
  url.password = ROLE;
  return url.toString();
}

/** Samples the role's connections every 50 ms, reconnecting through a restart. */
function watchConnections(adminUrl: string) {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    let client: pg.Client | undefined;
    while (running) {
      try {
        if (!client) {
          client = new pg.Client({ connectionString: adminUrl });
          client.on('error', () => {});
          await client.connect();
        }
        const { rows } = await client.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1',
          [ROLE],
        );
        peak = Math.max(peak, rows[0]!.n);
      } catch {
        await client?.end().catch(() => {});
        client = undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await client?.end().catch(() => {});
  })();
  return {
    takePeak() {
      const value = peak;
      peak = 0;
      return value;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}

interface RunResult {
  total: Tally;
  windows: Record<Window, Tally>;
  newLines: number;
  syntheses: number;
  linesSynthesizedTwice: number;
  errors: number;
  timeouts: number;
  restartMs?: number;
}

async function drive(stack: BenchStack, ports: number[], run: string, restartAt?: number): Promise<RunResult> {
  const headers = { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' };
  const hot = (i: number) => JSON.stringify({ voice: 'es-AR-ElenaNeural', text: `Línea repetida ${i}` });
  let sequence = 0;
  let newCount = 0;
  const newTexts = new Set<string>();
  const total = tally();
  const windows: Record<Window, Tally> = { before: tally(), restart: tally(), after: tally() };
  let restartBegan = Infinity;
  let restartEnded = Infinity;
  const windowAt = (t: number): Window =>
    t < restartBegan ? 'before' : t < restartEnded + RECOVERY_MS ? 'restart' : 'after';
  const receivedBefore = stack.standIn.received.length;

  const perInstance = Math.max(1, Math.round(CONCURRENCY / ports.length));
  const runs = ports.map(
    (port) =>
      new Promise<autocannon.Result>((resolve, reject) => {
        const instance = autocannon(
          {
            url: `http://127.0.0.1:${port}/api/v1/projects/${stack.projectId}/characters/audition`,
            connections: perInstance,
            duration: SECONDS,
            timeout: 30,
            requests: [
              {
                method: 'POST',
                headers,
                setupRequest: (request, context) => {
                  const n = sequence++;
                  let body: string;
                  if (n % 2 === 0) {
                    body = hot(n % HOT_LINES);
                  } else {
                    const text = `Línea nueva ${run} ${Math.floor(newCount++ / COPIES)}`;
                    newTexts.add(text);
                    body = JSON.stringify({ voice: 'es-AR-ElenaNeural', text });
                  }
                  (context as { sentAt?: number }).sentAt = performance.now();
                  return { ...request, body };
                },
                onResponse: (status, _body, context, responseHeaders) => {
                  const now = performance.now();
                  const cache = String(responseHeaders?.['x-cache-status'] ?? '-');
                  const latency = now - ((context as { sentAt?: number }).sentAt ?? now);
                  for (const t of [total, windows[windowAt(now)]]) {
                    t.requests++;
                    bump(t.statuses, String(status));
                    bump(t.cache, cache);
                    t.latencies.push(latency);
                  }
                },
              },
            ],
          },
          (error, result) =>
            error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result),
        );
        instance.on('error', (error: Error) => reject(error));
      }),
  );

  let restartMs: number | undefined;
  const restart =
    restartAt === undefined
      ? Promise.resolve()
      : (async () => {
          await new Promise((resolve) => setTimeout(resolve, restartAt));
          restartBegan = performance.now();
          await stack.pg.restart();
          restartEnded = performance.now();
          restartMs = Math.round(restartEnded - restartBegan);
        })();
  const [results] = await Promise.all([Promise.all(runs), restart]);
  // Syntheses of this run's new lines; anything for a repeated line would be a cache failure, and counts too.
  const received = stack.standIn.received.slice(receivedBefore).map((r) => r.ssml);
  const perSsml = new Map<string, number>();
  for (const ssml of received) perSsml.set(ssml, (perSsml.get(ssml) ?? 0) + 1);
  return {
    total,
    windows,
    newLines: newTexts.size,
    syntheses: received.length,
    linesSynthesizedTwice: [...perSsml.values()].filter((count) => count > 1).length,
    errors: results.reduce((sum, r) => sum + r.errors - r.timeouts, 0),
    timeouts: results.reduce((sum, r) => sum + r.timeouts, 0),
    restartMs,
  };
}

function summary(result: RunResult, peakConnections: number, refused: number) {
  const { total } = result;
  const non200 = total.requests - (total.statuses['200'] ?? 0) + result.errors + result.timeouts;
  return {
    requests: total.requests,
    non_200: non200,
    statuses: JSON.stringify(total.statuses),
    cache_statuses: JSON.stringify(total.cache),
    new_lines: result.newLines,
    syntheses: result.syntheses,
    syntheses_per_new_line: +(result.syntheses / Math.max(1, result.newLines)).toFixed(3),
    lines_synthesized_twice: result.linesSynthesizedTwice,
    peak_connections: peakConnections,
    refused_by_role_limit: refused,
    errors: result.errors,
    timeouts: result.timeouts,
    p50_ms: Math.round(percentile(total.latencies, 0.5)),
    p99_ms: Math.round(percentile(total.latencies, 0.99)),
  };
}

function windowRow(t: Tally) {
  return {
    requests: t.requests,
    statuses: JSON.stringify(t.statuses),
    cache_statuses: JSON.stringify(t.cache),
    p50_ms: Math.round(percentile(t.latencies, 0.5)),
    p99_ms: Math.round(percentile(t.latencies, 0.99)),
  };
}

async function main() {
  let refused = 0;
  const stack = await startBenchStack({
    toneSeconds: 1,
    durable: false,
    hostRoot: HOST_ROOT,
    onPostgresLog: (line) => {
      if (line.includes('too many connections for role')) refused++;
    },
  });
  stack.standIn.behave({ kind: 'audio', delayMs: SPEECH_LATENCY_MS });
  const hostLog: string[] = [];
  let watcher: ReturnType<typeof watchConnections> | undefined;
  try {
    const databaseUrl = await createLimitedRole(stack.pg.adminUrl);
    const ports: number[] = [];
    for (let i = 0; i < INSTANCES; i++) {
      const host = await stack.startHost({ DATABASE_URL: databaseUrl, DATABASE_POOL_MAX: POOL_MAX }, (line) => {
        if (/\b(error|fail)/i.test(line)) hostLog.push(`[${i}] ${line}`);
      });
      ports.push(host.port);
    }
    // The repeated lines are cached (in Postgres and Blob Storage) before the load starts.
    const headers = { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' };
    for (let i = 0; i < 100; i++) {
      const response = await fetch(
        `http://127.0.0.1:${ports[i % ports.length]}/api/v1/projects/${stack.projectId}/characters/audition`,
        {
          method: 'POST',
          headers,
          body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text: `Línea repetida ${i}` }),
        },
      );
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`warm-up answered ${response.status}`);
    }
    watcher = watchConnections(stack.pg.adminUrl);
    const config = {
      instances: INSTANCES,
      database_pool_max: POOL_MAX,
      connection_limit: CONNECTION_LIMIT,
      concurrency: CONCURRENCY,
      seconds: SECONDS,
    };
    const version = HOST_ROOT ? `host from ${HOST_ROOT}` : 'this checkout';

    console.log(
      `steady run: ${INSTANCES} instances × DATABASE_POOL_MAX=${POOL_MAX}, role limit ${CONNECTION_LIMIT}, ${CONCURRENCY} concurrent, ${SECONDS} s (${version})`,
    );
    watcher.takePeak();
    const refusedBefore = refused;
    const steady = await drive(stack, ports, 'steady');
    const steadyRow = summary(steady, watcher.takePeak(), refused - refusedBefore);
    console.table(steadyRow);

    console.log(`restart run: the same, Postgres restarted ${Math.round(SECONDS / 3)} s in`);
    const refusedBeforeRestart = refused;
    const restarted = await drive(stack, ports, 'restart', (SECONDS / 3) * 1000);
    const restartRow = summary(restarted, watcher.takePeak(), refused - refusedBeforeRestart);
    console.table(restartRow);
    console.log(`Postgres down and back up in ${restarted.restartMs} ms; window = restart + ${RECOVERY_MS / 1000} s`);
    console.table(Object.fromEntries(Object.entries(restarted.windows).map(([name, t]) => [name, windowRow(t)])));

    const after = restarted.windows.after;
    const checks = {
      steady_all_200: steadyRow.non_200 === 0,
      steady_syntheses_within_2_percent: steady.syntheses <= steady.newLines * 1.02,
      steady_within_connection_limit:
        steadyRow.refused_by_role_limit === 0 && steadyRow.peak_connections <= CONNECTION_LIMIT,
      restart_only_200_or_documented_503:
        Object.keys(restarted.total.statuses).every((s) => s === '200' || s === '503') &&
        restarted.errors + restarted.timeouts === 0,
      restart_no_503_outside_window:
        (restarted.windows.before.statuses['503'] ?? 0) + (after.statuses['503'] ?? 0) === 0,
      restart_syntheses_within_2_percent: restarted.syntheses <= restarted.newLines * 1.02,
      recovered_after_window:
        after.requests > 0 && (after.statuses['200'] ?? 0) === after.requests && (after.cache.BYPASS ?? 0) === 0,
    };
    console.table(checks);
    if (hostLog.length > 0)
      console.log(
        `host log lines mentioning errors: ${hostLog.length}; first ones:\n${hostLog.slice(0, 8).join('\n')}`,
      );
    await saveResult(`scale-${LABEL}`, {
      ...config,
      version,
      speech_latency_ms: SPEECH_LATENCY_MS,
      ...Object.fromEntries(Object.entries(steadyRow).map(([k, v]) => [`steady_${k}`, v])),
      ...Object.fromEntries(Object.entries(restartRow).map(([k, v]) => [`restart_${k}`, v])),
      restart_down_ms: restarted.restartMs,
      restart_window: JSON.stringify(windowRow(restarted.windows.restart)),
      after_window: JSON.stringify(windowRow(after)),
      host_error_log_lines: hostLog.length,
      pass: Object.values(checks).every(Boolean),
    });
    process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
  } finally {
    await watcher?.stop();
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
