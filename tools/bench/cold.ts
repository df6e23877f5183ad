// npm run bench:cold — what a new instance costs its first caller (not part of npm test).
//
// With PostgreSQL, Azurite and the speech stand-in already running (one cached audition
// stored beforehand), each run starts a fresh host process (`node dist/tools/serve.js`, as
// `npm run serve`) and measures: process start → listening (split as the host reports it:
// modules, configuration, functions), → its first answered HIT (Server-Timing: auth = the
// first database connection and queries, blob = the first blob read), then → the first audio
// byte of its first MISS (less the stand-in's first-chunk time: the first speech connection
// and the miss path); the instance's peak RSS (VmHWM) once listening, before any request. In the same run, the floor:
// a Node process whose HTTP server answers a constant, start → first answer. Medians of
// COLD_RUNS (5). Also the production package: `npm ci --omit=dev` of this package.json and
// lock in a scratch folder, its bytes and package count (COLD_PACKAGE=0 skips it).
// Writes bench/results/cold-latest.json.
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { findFreePort } from '../local-services/free-port.ts';
import { projectRoot } from '../project-root.ts';
import { saveResult, startBenchStack, stopHost, type BenchStack } from './bench-stack.ts';

const RUNS = Number(process.env.COLD_RUNS ?? 5);
const FIRST_CHUNK_MS = 150;

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
function post(url: string, token: string, body: object): Promise<{ status: number; firstByteMs: number; totalMs: number; timing: Record<string, number> }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (response) => {
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
    });
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function coldRun(stack: BenchStack, run: number) {
  let startup = '';
  const spawned = performance.now();
  const host = await stack.startHost({}, (line) => {
    if (line.startsWith('Started in')) startup = line;
  });
  const listeningMs = performance.now() - spawned;
  const idleRss = await peakRssMb(host.child.pid!); // listening, no request served yet
  const url = `http://127.0.0.1:${host.port}/api/v1/projects/${stack.projectId}/characters/audition`;
  const hit = await post(url, stack.token, { voice: 'es-AR-ElenaNeural', text: 'La línea que ya está en la caché.' });
  const hitMs = performance.now() - spawned;
  const miss = await post(url, stack.token, { voice: 'es-AR-ElenaNeural', text: `Una línea nueva, arranque en frío ${run}.` });
  const missFirstByteMs = hitMs + miss.firstByteMs;
  const secondHit = await post(url, stack.token, { voice: 'es-AR-ElenaNeural', text: 'La línea que ya está en la caché.' });
  await stopHost(host.child);
  if (hit.status !== 200 || miss.status !== 200) throw new Error(`cold run answered ${hit.status} / ${miss.status}`);
  const split = /modules (\d+) ms, configuration (\d+) ms, functions and listening (\d+) ms/.exec(startup);
  return {
    listeningMs,
    modulesMs: Number(split?.[1] ?? NaN),
    configurationMs: Number(split?.[2] ?? NaN),
    functionsMs: Number(split?.[3] ?? NaN),
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

/** The floor: a Node process answering a constant, start → first answer. */
async function floorRun(): Promise<number> {
  const port = await findFreePort();
  const spawned = performance.now();
  const child = spawn(
    process.execPath,
    ['-e', `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1', () => console.log('Listening on'))`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve) => readline.createInterface({ input: child.stdout }).on('line', (line) => line.includes('Listening on') && resolve()));
  await new Promise<void>((resolve, reject) => http.get(`http://127.0.0.1:${port}/`, (res) => res.resume().on('end', resolve)).on('error', reject));
  const ms = performance.now() - spawned;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill();
  await exited;
  return ms;
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await folderBytes(full);
    else if (entry.isFile()) total += (await stat(full)).size;
  }
  return total;
}

/** `npm ci --omit=dev` of this package in a scratch folder: bytes on disk and packages. */
async function productionPackage(): Promise<{ bytes: number; packages: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'khipu-package-'));
  try {
    for (const file of ['package.json', 'package-lock.json']) await copyFile(path.join(projectRoot(), file), path.join(dir, file));
    await promisify(execFile)('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
    const lock = JSON.parse(await readFile(path.join(dir, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
    return { bytes: await folderBytes(path.join(dir, 'node_modules')), packages: Object.keys(lock.packages).length };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main() {
  const stack = await startBenchStack({ toneSeconds: 1, durable: false });
  stack.standIn.behave({ kind: 'audio', delayMs: FIRST_CHUNK_MS });
  try {
    // The cached line, stored by a host that then stops.
    const warm = await stack.startHost();
    const seeded = await post(`http://127.0.0.1:${warm.port}/api/v1/projects/${stack.projectId}/characters/audition`, stack.token, {
      voice: 'es-AR-ElenaNeural',
      text: 'La línea que ya está en la caché.',
    });
    await new Promise((resolve) => setTimeout(resolve, 300)); // stored after the response
    await stopHost(warm.child);
    if (seeded.status !== 200) throw new Error(`seeding answered ${seeded.status}`);

    const runs: Awaited<ReturnType<typeof coldRun>>[] = [];
    const floors: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      floors.push(await floorRun());
      runs.push(await coldRun(stack, run));
    }
    const m = (key: keyof Awaited<ReturnType<typeof coldRun>>) => round(median(runs.map((r) => r[key])));
    const floorMs = round(median(floors));
    const pkg = process.env.COLD_PACKAGE === '0' ? undefined : await productionPackage();
    await saveResult('cold-latest', {
      runs: RUNS,
      floor_first_answer_ms: floorMs,
      listening_ms: m('listeningMs'),
      modules_ms: m('modulesMs'),
      configuration_ms: m('configurationMs'),
      functions_and_listen_ms: m('functionsMs'),
      first_hit_ms: m('firstHitMs'),
      first_hit_over_floor_ms: round(m('firstHitMs') - floorMs),
      first_hit_request_ms: m('firstHitRequestMs'),
      first_hit_auth_ms: m('firstHitAuthMs'),
      first_hit_blob_ms: m('firstHitBlobMs'),
      second_hit_ms: m('secondHitMs'),
      first_miss_first_byte_ms: m('firstMissFirstByteMs'),
      first_miss_request_first_byte_ms: m('firstMissRequestFirstByteMs'),
      first_miss_over_stand_in_ms: m('firstMissOverStandInMs'),
      stand_in_first_chunk_ms: FIRST_CHUNK_MS,
      idle_peak_rss_mb: m('idleRssMb'),
      production_package_mb: pkg ? round(pkg.bytes / 1024 / 1024) : 'skipped',
      production_packages: pkg ? pkg.packages : 'skipped',
    });
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
