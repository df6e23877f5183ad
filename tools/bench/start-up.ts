// Cold start, run by `npm run bench:cold` and by `npm run bench`: what a new instance costs its first caller, on a
// BenchStack (PostgreSQL, Azurite and the speech stand-in already running).
//
// One audition is cached beforehand (by a host that then stops). Then, in each of `runs` rounds, interleaved so that
// all see the same machine: the floors, start → first answer — the issue's, a minimal function answering a constant
// (floor-app.ts, bundled like the package and served by the same host), and below it a bare Node HTTP server answering
// a constant; then fresh host processes (`node dist/tools/serve.js`) on the deployment package's bundle (`--app
// <bundle>`, what is deployed) and, if asked, on the compiled sources (what `npm run serve` runs). Of each: process
// start → listening (split as the host reports it: its own modules, the app's modules, configuration, functions and
// listening), → its first answered HIT (Server-Timing: auth = the first database connection and queries, blob = the
// first blob read), then → the first audio byte of its first MISS, in another fresh process whose first request it is
// (less the stand-in's first-chunk time: the first speech connection and the miss path); the instance's peak RSS
// (VmHWM) once listening, before any request. Medians of the rounds.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import readline from 'node:readline';
import { findFreePort } from '../local-services/free-port.ts';
import { buildBenchApp } from './bench-app.ts';
import { stopHost, type BenchStack } from './bench-stack.ts';

/** The stand-in sends its first chunk this long after the SSML (measureStartUp sets it so). */
export const FIRST_CHUNK_MS = 150;
const CACHED = { voice: 'es-AR-ElenaNeural', text: 'La línea que ya está en la caché.' };

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (value: number) => Math.round(value * 10) / 10;

function serverTiming(header: string | undefined): Record<string, number> {
  const phases: Record<string, number> = {};
  for (const part of (header ?? '').split(',')) {
    const [name, ...params] = part.trim().split(';');
    const dur = params.find((p) => p.startsWith('dur='));
    if (name && dur) phases[name] = Number(dur.slice(4));
  }
  return phases;
}

/** POSTs and resolves at the first body byte and at the end. */
function post(
  url: string,
  token: string,
  body: object,
): Promise<{ status: number; firstByteMs: number; totalMs: number; timing: Record<string, number> }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (response) => {
        let firstByteMs: number | undefined;
        response.on('data', () => (firstByteMs ??= performance.now() - started));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            firstByteMs: firstByteMs ?? performance.now() - started,
            totalMs: performance.now() - started,
            timing: serverTiming(response.headers['server-timing'] as string | undefined),
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function startTimed(stack: BenchStack, hostArgs: string[]) {
  let startup = '';
  const spawned = performance.now();
  const host = await stack.startHost(
    {},
    (line) => {
      if (line.startsWith('Started in')) startup = line;
    },
    hostArgs,
  );
  return { host, spawned, listeningMs: performance.now() - spawned, startup: () => startup };
}

/**
 * Two fresh instances: one whose first request is a HIT (then a second HIT), one whose first
 * request is a MISS, each timed from its process's start.
 */
async function coldRun(stack: BenchStack, run: number, hostArgs: string[]) {
  const urlOf = (port: number) => `http://127.0.0.1:${port}/api/v1/projects/${stack.projectId}/characters/audition`;

  const first = await startTimed(stack, hostArgs);
  const idleRss = await peakRssMb(first.host.child.pid!); // listening, no request served yet
  const hit = await post(urlOf(first.host.port), stack.token, CACHED);
  const hitMs = performance.now() - first.spawned;
  const secondHit = await post(urlOf(first.host.port), stack.token, CACHED);
  await stopHost(first.host.child);

  const second = await startTimed(stack, hostArgs);
  const miss = await post(urlOf(second.host.port), stack.token, {
    voice: 'es-AR-ElenaNeural',
    text: `Una línea nueva, arranque en frío ${run}.`,
  });
  const missFirstByteMs = second.listeningMs + miss.firstByteMs;
  await stopHost(second.host.child);
  if (hit.status !== 200 || miss.status !== 200) throw new Error(`cold run answered ${hit.status} / ${miss.status}`);
  const split = /host (\d+) ms, app modules (\d+) ms, configuration (\d+) ms, listening (\d+) ms/.exec(first.startup());
  return {
    listeningMs: first.listeningMs,
    hostModulesMs: Number(split?.[1] ?? NaN),
    appModulesMs: Number(split?.[2] ?? NaN),
    configurationMs: Number(split?.[3] ?? NaN),
    functionsMs: Number(split?.[4] ?? NaN),
    firstHitMs: hitMs,
    firstHitRequestMs: hit.totalMs,
    firstHitAuthMs: hit.timing.auth ?? NaN,
    firstHitBlobMs: hit.timing.blob ?? NaN,
    secondHitMs: secondHit.totalMs,
    firstMissFirstByteMs: missFirstByteMs,
    firstMissRequestFirstByteMs: miss.firstByteMs,
    firstMissOverStandInMs: miss.firstByteMs - FIRST_CHUNK_MS,
    idleRssMb: idleRss,
  };
}

/** The floor: a fresh host serving only a function that answers a constant, start → its first answer. */
async function functionFloorRun(stack: BenchStack, bundle: string): Promise<number> {
  const started = await startTimed(stack, ['--app', bundle]);
  const answer = await post(
    `http://127.0.0.1:${started.host.port}/api/v1/projects/${stack.projectId}/characters/audition`,
    stack.token,
    {},
  );
  const ms = performance.now() - started.spawned;
  await stopHost(started.host.child);
  if (answer.status !== 200) throw new Error(`the floor app answered ${answer.status}`);
  return ms;
}

/** Below it: a bare Node process answering a constant, start → first answer. */
async function nodeFloorRun(): Promise<number> {
  const port = await findFreePort();
  const spawned = performance.now();
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1', () => console.log('Listening on'))`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve) =>
    readline.createInterface({ input: child.stdout }).on('line', (line) => line.includes('Listening on') && resolve()),
  );
  await new Promise<void>((resolve, reject) =>
    http.get(`http://127.0.0.1:${port}/`, (res) => res.resume().on('end', resolve)).on('error', reject),
  );
  const ms = performance.now() - spawned;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill();
  await exited;
  return ms;
}

type ColdRun = Awaited<ReturnType<typeof coldRun>>;

function summary(runs: ColdRun[], floorMs: number, nodeFloorMs: number) {
  const m = (key: keyof ColdRun) => round(median(runs.map((r) => r[key])));
  return {
    listening_ms: m('listeningMs'),
    host_modules_ms: m('hostModulesMs'),
    app_modules_ms: m('appModulesMs'),
    configuration_ms: m('configurationMs'),
    functions_and_listen_ms: m('functionsMs'),
    first_hit_ms: m('firstHitMs'),
    first_hit_over_floor_ms: round(m('firstHitMs') - floorMs),
    first_hit_over_node_floor_ms: round(m('firstHitMs') - nodeFloorMs),
    first_hit_request_ms: m('firstHitRequestMs'),
    first_hit_auth_ms: m('firstHitAuthMs'),
    first_hit_blob_ms: m('firstHitBlobMs'),
    second_hit_ms: m('secondHitMs'),
    first_miss_first_byte_ms: m('firstMissFirstByteMs'),
    first_miss_over_floor_and_stand_in_ms: round(m('firstMissFirstByteMs') - floorMs - FIRST_CHUNK_MS),
    first_miss_over_node_floor_and_stand_in_ms: round(m('firstMissFirstByteMs') - nodeFloorMs - FIRST_CHUNK_MS),
    first_miss_request_first_byte_ms: m('firstMissRequestFirstByteMs'),
    first_miss_over_stand_in_ms: m('firstMissOverStandInMs'),
    idle_peak_rss_mb: m('idleRssMb'),
  };
}

export interface StartUpOptions {
  runs: number;
  /** The deployment package's bundle (`.deploy/app/dist/main.js`, `npm run package`). */
  bundle: string;
  /** Also measure fresh hosts on the compiled sources, in the same rounds. */
  compiledSources: boolean;
}

/** The cold-start rounds on `stack` (its stand-in set to answer its first chunk after FIRST_CHUNK_MS). */
export async function measureStartUp(stack: BenchStack, { runs, bundle, compiledSources }: StartUpOptions) {
  const floorApp = await buildBenchApp('floor-app');
  stack.standIn.behave({ kind: 'audio', delayMs: FIRST_CHUNK_MS });
  try {
    // The cached line, stored by a host that then stops.
    const warm = await stack.startHost();
    const seeded = await post(
      `http://127.0.0.1:${warm.port}/api/v1/projects/${stack.projectId}/characters/audition`,
      stack.token,
      CACHED,
    );
    await new Promise((resolve) => setTimeout(resolve, 300)); // stored after the response
    await stopHost(warm.child);
    if (seeded.status !== 200) throw new Error(`seeding answered ${seeded.status}`);

    // Interleaved, so both variants and the floors see the same machine.
    const packaged: ColdRun[] = [];
    const sources: ColdRun[] = [];
    const floors: number[] = [];
    const nodeFloors: number[] = [];
    for (let run = 0; run < runs; run++) {
      floors.push(await functionFloorRun(stack, floorApp.bundle));
      nodeFloors.push(await nodeFloorRun());
      packaged.push(await coldRun(stack, 2 * run, ['--app', bundle]));
      if (compiledSources) sources.push(await coldRun(stack, 2 * run + 1, []));
    }
    const floorMs = round(median(floors));
    const nodeFloorMs = round(median(nodeFloors));
    return {
      floorMs,
      nodeFloorMs,
      floorRunsMs: floors.map(round),
      nodeFloorRunsMs: nodeFloors.map(round),
      deployed: summary(packaged, floorMs, nodeFloorMs),
      sources: compiledSources ? summary(sources, floorMs, nodeFloorMs) : undefined,
    };
  } finally {
    await floorApp.dispose();
  }
}

/** What `npm run bench` keeps of it: the deployment package's first HIT against its floors, and its split. */
export function startUpFigures({ floorMs, nodeFloorMs, deployed }: Awaited<ReturnType<typeof measureStartUp>>) {
  return {
    start_first_hit_ms: deployed.first_hit_ms,
    start_floor_first_answer_ms: floorMs,
    // The goal: ≤ 250 ms.
    start_first_hit_over_floor_ms: deployed.first_hit_over_floor_ms,
    start_listening_ms: deployed.listening_ms,
    start_host_modules_ms: deployed.host_modules_ms,
    start_app_modules_ms: deployed.app_modules_ms,
    start_configuration_ms: deployed.configuration_ms,
    start_functions_and_listen_ms: deployed.functions_and_listen_ms,
    start_first_hit_request_ms: deployed.first_hit_request_ms,
    start_first_hit_auth_ms: deployed.first_hit_auth_ms,
    start_first_hit_blob_ms: deployed.first_hit_blob_ms,
    start_node_floor_first_answer_ms: nodeFloorMs,
  };
}
