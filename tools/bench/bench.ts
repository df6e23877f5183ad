// npm run bench — every figure of issue 38's table in one run, each against its baseline from the same run (not part
// of npm test; npm run bench runs `npm run package` first, for the start-up part).
//
// Starts PostgreSQL, Azurite, the speech stand-in (fixed latency) and the local host, then measures, each over several
// runs (medians): HIT throughput and latency at 32 connections with the web client's body; the same with
// MEMORY_CACHE_MB=0 (the cold path: database + blob) against its ceiling, a process doing only one `pg` lookup and one
// Blob SDK GET per request (ceiling-server.ts); Azurite serving the same blob directly (SAS GET) and a bare Node server
// answering the same bytes, in the same run, as further references; miss overhead (total − the stand-in's latency)
// and time to the first audio byte of a miss; fairness between tenants: tenant B's one audition behind tenant A's 200
// simultaneous misses (speech latency 1 s), against B alone. Then, with no other load running: CPU µs per answer of
// a warm HIT, the static answer and the two floors (cpu-probe.ts: BENCH_CPU_ANSWERS, 20,000, in 3 interleaved
// rounds, no profiler); start-up (start-up.ts, COLD_RUNS rounds, 5): spawn → listening (host modules, app modules,
// configuration, functions and listening) → first HIT of the deployment package (its auth and blob Server-Timing)
// against the one-function floor and a bare Node floor; and index lookup latency at 10,000 and at 1,000,000 rows.
// Writes bench/results/latest.json and prints the goals, each with its value and whether it is met.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { BlobSASPermissions, BlobServiceClient } from '@azure/storage-blob';
import autocannon from 'autocannon';
import { ConnectRetry } from '../../src/adapters/postgres/connect-retry.ts';
import { Database } from '../../src/adapters/postgres/prisma-client.ts';
import { StallGuard } from '../../src/adapters/stall-guard.ts';
import { findFreePort } from '../local-services/free-port.ts';
import { projectRoot } from '../project-root.ts';
import { buildBenchApp } from './bench-app.ts';
import { auditionBody as body, saveResult, startBenchStack, stopHost, type BenchStack } from './bench-stack.ts';
import { probeCpuPerAnswer } from './cpu-probe.ts';
import { measureLookups } from './lookups.ts';
import { measureStartUp, startUpFigures } from './start-up.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CPU_ANSWERS = Number(process.env.BENCH_CPU_ANSWERS ?? 20_000);
const CPU_ROUNDS = 3;
const START_RUNS = Number(process.env.COLD_RUNS ?? 5);
const CONNECTIONS = 32;
/** Before the cold hit and its ceiling are measured, each serves this long unmeasured. */
const WARM_UP_SECONDS = 3;
const WARM_ENTRIES = 50;
/** The stand-in sends its first 4 KB chunk this long after the SSML, then one every CHUNK_INTERVAL_MS. */
const FIRST_CHUNK_MS = 150;
const CHUNK_INTERVAL_MS = 25;
/** The speech service's latency in the fairness measurement (the scenario). */
const FAIRNESS_SPEECH_MS = 1_000;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

type Load = { rps: number; p50: number; p99: number; non2xx: number };

async function loadOnce(options: autocannon.Options, seconds = SECONDS): Promise<Load> {
  const result = await autocannon({ connections: CONNECTIONS, duration: seconds, ...options });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx + result.errors,
  };
}

function medianOf(runs: Load[]): Load {
  return {
    rps: Math.round(median(runs.map((r) => r.rps))),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
  };
}

async function load(options: autocannon.Options): Promise<Load> {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await loadOnce(options));
  return medianOf(runs);
}

/**
 * Servers compared: each first serves WARM_UP_SECONDS unmeasured (the JIT compiles its path;
 * programs of different sizes warm up differently), then their runs alternate, so that all
 * see the same machine (it is shared and noisy).
 */
async function loadInterleaved<const T extends readonly autocannon.Options[]>(
  servers: T,
): Promise<{ [K in keyof T]: Load }> {
  for (const options of servers) await loadOnce(options, WARM_UP_SECONDS);
  const runs: Load[][] = servers.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [n, options] of servers.entries()) runs[n]!.push(await loadOnce(options));
  }
  return runs.map(medianOf) as { [K in keyof T]: Load };
}

/** The cold hit's ceiling (ceiling-server.ts) in its own process, on the stack's database and Azurite. */
async function startCeilingServer(stack: BenchStack, keys: string[]): Promise<{ child: ChildProcess; port: number }> {
  const port = await findFreePort();
  const child = spawn(process.execPath, [path.join(__dirname, 'ceiling-server.js')], {
    env: {
      ...process.env,
      DATABASE_URL: stack.pg.adminUrl,
      AZURE_STORAGE_CONNECTION_STRING: stack.azurite.connectionString,
      PORT: String(port),
      CEILING_KEYS: keys.join(','),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`ceiling server exited (${code})`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => line.includes('Listening on') && resolve());
  });
  return { child, port };
}

async function main() {
  // What is deployed, for the start-up part: the bundle `npm run package` wrote (npm run bench runs it first).
  const bundle = path.join(projectRoot(), '.deploy/app/dist/main.js');
  if (!existsSync(bundle)) throw new Error(`${bundle} not found: run npm run package (npm run bench does)`);
  const stack = await startBenchStack({ toneSeconds: 4, durable: true }); // ~25 KB, a short line
  const { pg, azurite, standIn } = stack;
  standIn.behave({ kind: 'audio', delayMs: FIRST_CHUNK_MS, chunkIntervalMs: CHUNK_INTERVAL_MS });
  // What the speech service itself takes for one audition: the floor of a miss.
  const standInLatencyMs = FIRST_CHUNK_MS + (Math.ceil(stack.audio.length / 4096) - 1) * CHUNK_INTERVAL_MS;
  let baseline: http.Server | undefined;
  try {
    const db = Database.open(pg.adminUrl, {
      connectRetry: new ConnectRetry(),
      stallGuard: new StallGuard('the database'),
    });
    const prisma = await db.client();
    const host = await stack.startHost();
    const url = `http://127.0.0.1:${host.port}/api/v1/projects/${stack.projectId}/characters/audition`;
    // The web client's request shape (auditionBody).
    const headers = { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' };

    // Misses first (each a real synthesis through the stand-in): overhead and first byte.
    const missOverheads: number[] = [];
    const firstBytes: number[] = [];
    const firstBytesAfterStandIn: number[] = [];
    // The overhead's two parts: request sent → SSML at the stand-in; the stand-in's turn.end → the response's end.
    const missBefore: number[] = [];
    const missAfter: number[] = [];
    for (let i = 0; i < WARM_ENTRIES; i++) {
      const started = performance.now();
      const firstByte = await new Promise<number>((resolve, reject) => {
        const req = http.request(url, { method: 'POST', headers }, (res) => {
          let first: number | undefined;
          res.on('data', () => (first ??= performance.now() - started));
          res.on('end', () => resolve(first ?? performance.now() - started));
        });
        req.on('error', reject);
        req.end(body(i));
      });
      const total = performance.now() - started;
      // What the stand-in really took for this turn (its timers run a little late).
      const turn = standIn.received.at(-1)!;
      missOverheads.push(total - (turn.endedAt! - turn.receivedAt));
      missBefore.push(turn.receivedAt - started);
      missAfter.push(started + total - turn.endedAt!);
      firstBytes.push(firstByte);
      firstBytesAfterStandIn.push(started + firstByte - turn.firstAudioAt!);
    }
    const missOverheadP50 = median(missOverheads);

    let sequence = 0;
    const hitRequests: autocannon.Options['requests'] = [
      { setupRequest: (request) => ({ ...request, method: 'POST', headers, body: body(sequence++ % WARM_ENTRIES) }) },
    ];
    const hit = await load({ url, requests: hitRequests });
    await stopHost(host.child);

    // The cold path (no memory tier: the index and a blob read per hit) against its ceiling,
    // in alternation: a process doing only one pg lookup and one Blob SDK GET per request; the
    // same work as one function under the same host (what the Functions model costs); and that
    // function with the lookup through Prisma, as the app does it (what Prisma costs).
    const cold = await stack.startHost({ MEMORY_CACHE_MB: '0' });
    const coldUrl = `http://127.0.0.1:${cold.port}/api/v1/projects/${stack.projectId}/characters/audition`;
    const warmKeys = (
      await prisma.audioCache.findMany({ where: { tenantId: stack.tenantId }, select: { cacheKey: true } })
    ).map((row) => row.cacheKey);
    const ceilingServer = await startCeilingServer(stack, warmKeys);
    const ceilingApp = await buildBenchApp('ceiling-app');
    const ceilingFunction = await stack.startHost({ CEILING_KEYS: warmKeys.join(',') }, undefined, [
      '--app',
      ceilingApp.bundle,
    ]);
    const ceilingWithPrisma = await stack.startHost(
      { CEILING_KEYS: warmKeys.join(','), CEILING_LOOKUP: 'prisma' },
      undefined,
      ['--app', ceilingApp.bundle],
    );
    const functionUrl = (port: number) =>
      `http://127.0.0.1:${port}/api/v1/projects/${stack.projectId}/characters/audition`;
    const [coldHit, ceiling, ceilingAsFunction, ceilingAsFunctionWithPrisma] = await loadInterleaved([
      { url: coldUrl, requests: hitRequests },
      { url: `http://127.0.0.1:${ceilingServer.port}/`, requests: hitRequests },
      { url: functionUrl(ceilingFunction.port), requests: hitRequests },
      { url: functionUrl(ceilingWithPrisma.port), requests: hitRequests },
    ]);
    for (const child of [cold.child, ceilingServer.child, ceilingFunction.child, ceilingWithPrisma.child])
      await stopHost(child);
    await ceilingApp.dispose();

    // Fairness between tenants: tenant A sends 200 distinct misses at once, tenant B one miss
    // 1 s later, with a speech service answering in 1 s (the same run's baseline: B alone).
    standIn.behave({ kind: 'audio', delayMs: FAIRNESS_SPEECH_MS });
    const fair = await stack.startHost();
    const tenantB = await stack.addTenant('Bench B');
    const fairAudition = async (projectId: string, token: string, text: string) => {
      const started = performance.now();
      const response = await fetch(`http://127.0.0.1:${fair.port}/api/v1/projects/${projectId}/characters/audition`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text }),
      });
      await response.arrayBuffer();
      return { status: response.status, ms: performance.now() - started };
    };
    await fairAudition(tenantB.projectId, tenantB.token, 'B calienta'); // both callers known to the host
    await fairAudition(stack.projectId, stack.token, 'A calienta');
    const bAlone = await fairAudition(tenantB.projectId, tenantB.token, 'B sola');
    const burst = Array.from({ length: 200 }, (_, i) => fairAudition(stack.projectId, stack.token, `Ráfaga de A ${i}`));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const bBehindA = await fairAudition(tenantB.projectId, tenantB.token, 'B detrás de la ráfaga');
    const aAnswers = await Promise.all(burst);
    await stopHost(fair.child);
    standIn.behave({ kind: 'audio', delayMs: FIRST_CHUNK_MS, chunkIntervalMs: CHUNK_INTERVAL_MS });

    // Ceilings, same run: Azurite serving one of those blobs directly, and a bare Node server.
    const entry = await prisma.audioCache.findFirstOrThrow({ where: { tenantId: stack.tenantId } });
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      'audio-cache',
    );
    const blob = container.getBlobClient(entry.audioBlobPath);
    const sasUrl = await blob.generateSasUrl({
      permissions: BlobSASPermissions.parse('r'),
      expiresOn: new Date(Date.now() + 3_600_000),
    });
    const blobDirect = await load({ url: sasUrl });
    const bytes = await blob.downloadToBuffer();
    baseline = http.createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': bytes.length }).end(bytes),
    );
    await new Promise<void>((resolve) => baseline!.listen(0, '127.0.0.1', resolve));
    const staticBaseline = await load({ url: `http://127.0.0.1:${(baseline.address() as AddressInfo).port}/` });

    // With no other load: CPU per answer (the warm HIT, the static answer, the two floors), then start-up.
    const { rounds: cpuRounds, ...cpu } = await probeCpuPerAnswer(stack, { answers: CPU_ANSWERS, rounds: CPU_ROUNDS });
    console.log(`CPU µs per answer, by round: ${JSON.stringify(cpuRounds)}`);
    const startUp = startUpFigures(await measureStartUp(stack, { runs: START_RUNS, bundle, compiledSources: false }));

    // Index lookups at 10,000 and at 1,000,000 rows.
    const { lookup10k, lookup1m } = await measureLookups(stack, db, WARM_ENTRIES);
    await db.close();

    const result = {
      hit_rps: hit.rps,
      hit_p50_ms: hit.p50,
      hit_p99_ms: hit.p99,
      cold_hit_rps: coldHit.rps,
      cold_hit_p50_ms: coldHit.p50,
      cold_hit_p99_ms: coldHit.p99,
      baseline_rps: staticBaseline.rps,
      baseline_p99_ms: staticBaseline.p99,
      hit_vs_baseline: +(hit.rps / staticBaseline.rps).toFixed(3),
      blob_direct_rps: blobDirect.rps,
      cold_hit_vs_blob: +(coldHit.rps / blobDirect.rps).toFixed(3),
      ceiling_rps: ceiling.rps,
      ceiling_p50_ms: ceiling.p50,
      ceiling_p99_ms: ceiling.p99,
      // The target: ≥ 0.8.
      cold_hit_vs_ceiling: +(coldHit.rps / ceiling.rps).toFixed(3),
      ceiling_as_function_rps: ceilingAsFunction.rps,
      ceiling_as_function_p50_ms: ceilingAsFunction.p50,
      ceiling_as_function_vs_ceiling: +(ceilingAsFunction.rps / ceiling.rps).toFixed(3),
      cold_hit_vs_ceiling_as_function: +(coldHit.rps / ceilingAsFunction.rps).toFixed(3),
      ceiling_as_function_with_prisma_rps: ceilingAsFunctionWithPrisma.rps,
      ceiling_as_function_with_prisma_vs_ceiling: +(ceilingAsFunctionWithPrisma.rps / ceiling.rps).toFixed(3),
      miss_overhead_p50_ms: +missOverheadP50.toFixed(1),
      miss_before_ssml_p50_ms: +median(missBefore).toFixed(1),
      miss_after_turn_end_p50_ms: +median(missAfter).toFixed(1),
      miss_first_byte_ms: +median(firstBytes).toFixed(1),
      lookup_p50_ms_10k: lookup10k,
      lookup_p50_ms_1m: lookup1m,
      non_2xx:
        hit.non2xx +
        coldHit.non2xx +
        ceiling.non2xx +
        ceilingAsFunction.non2xx +
        ceilingAsFunctionWithPrisma.non2xx +
        blobDirect.non2xx +
        staticBaseline.non2xx +
        cpu.non_2xx,
      stand_in_latency_ms: standInLatencyMs,
      stand_in_first_chunk_ms: FIRST_CHUNK_MS,
      miss_first_byte_after_stand_in_ms: +median(firstBytesAfterStandIn).toFixed(1),
      fairness_speech_ms: FAIRNESS_SPEECH_MS,
      fairness_b_alone_ms: Math.round(bAlone.ms),
      fairness_b_behind_200_of_a_ms: Math.round(bBehindA.ms),
      fairness_b_status: bBehindA.status,
      fairness_b_vs_alone: +(bBehindA.ms / bAlone.ms).toFixed(2),
      fairness_a_200: aAnswers.filter((a) => a.status === 200).length,
      fairness_a_503: aAnswers.filter((a) => a.status === 503).length,
      warm_hit_cpu_us: cpu.warm_hit_cpu_us,
      static_cpu_us: cpu.static_cpu_us,
      floor_cpu_us: cpu.floor_cpu_us,
      library_floor_cpu_us: cpu.library_floor_cpu_us,
      warm_hit_cpu_vs_static: cpu.warm_hit_cpu_vs_static,
      floor_cpu_vs_static: cpu.floor_cpu_vs_static,
      library_floor_cpu_vs_static: cpu.library_floor_cpu_vs_static,
      warm_hit_cpu_beyond_floor_us: cpu.warm_hit_cpu_beyond_floor_us,
      ...startUp,
      runs: RUNS,
      seconds_per_run: SECONDS,
      cpu_answers_per_round: CPU_ANSWERS,
      start_runs: START_RUNS,
    };
    // The goals, each against its baseline from this run.
    const atLeast = (value: number, goal: number) => ({ value, goal: `≥ ${goal}`, met: value >= goal });
    const atMost = (value: number, goal: number) => ({ value, goal: `≤ ${goal}`, met: value <= goal });
    const goals = {
      hit_vs_baseline: atLeast(result.hit_vs_baseline, 0.7),
      hit_p99_vs_baseline_p99: atMost(+(hit.p99 / staticBaseline.p99).toFixed(2), 2),
      warm_hit_cpu_vs_static: atMost(cpu.warm_hit_cpu_vs_static, 3),
      cold_hit_vs_ceiling: atLeast(result.cold_hit_vs_ceiling, 0.8),
      start_first_hit_over_floor_ms: atMost(startUp.start_first_hit_over_floor_ms, 250),
      miss_overhead_p50_ms: atMost(result.miss_overhead_p50_ms, 10),
    };
    await saveResult('latest', { ...result, goals }, ['goals']);
    console.table(goals);
  } finally {
    await new Promise((resolve) => (baseline ? baseline.close(resolve) : resolve(undefined)));
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
