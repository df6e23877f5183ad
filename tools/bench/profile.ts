// npm run bench:profile — where the time of a HIT goes (not part of npm test).
//
// On PostgreSQL, Azurite and the speech stand-in, starts the local host (`node dist/tools/serve.js`) under
// `node --cpu-prof`, and beside it a bare Node HTTP server answering the same MP3 bytes (the static answer), then:
// - CPU per answer, in hosts not under the profiler, in 3 interleaved rounds (medians): 20,000 warm HITs (memory tier
//   on, the web client's body and a real token, 32 connections), 20,000 static answers, and 20,000 answers of the
//   warm HIT's floor — one function answering the same bytes and headers in the same local host (floor-app.ts) —
//   each process's CPU time (utime + stime, /proc) over its window, divided by the answers;
// - the warm HIT's profile over that window, by part of the program (cpu-profile.ts), and the inclusive time of our
//   steps (authentication, body parsing, key derivation, memory tier, response, request log, metrics…);
// - the same for 5,000 cold HITs (MEMORY_CACHE_MB=0: the index and a blob read each);
// - start-up: a fresh host from spawn to its first HIT answered, its profile from the process's start.
// The profiles stay in bench/results/profiles/ (open them in Chrome DevTools or speedscope); the summary is
// bench/results/profile-latest.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import autocannon from 'autocannon';
import { findFreePort } from '../local-services/free-port.ts';
import { projectRoot } from '../project-root.ts';
import { buildBenchApp } from './bench-app.ts';
import { saveResult, startBenchStack, stopHost, type BenchStack } from './bench-stack.ts';
import { monotonicUs, summarizeProfile, type ProfileSummary, type Window } from './cpu-profile.ts';

const WARM_HITS = Number(process.env.PROFILE_WARM_HITS ?? 20_000);
const COLD_HITS = Number(process.env.PROFILE_COLD_HITS ?? 5_000);
const CONNECTIONS = 32;
const LINES = 50;
const ROUNDS = 3;
const PROFILES = path.join(projectRoot(), 'bench/results/profiles');

/** A process's CPU time so far (user + system), in microseconds, from /proc. */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  return (ticks * 1_000_000) / 100; // USER_HZ is 100 on Linux
}

interface Measured {
  answers: number;
  non2xx: number;
  cpuUsPerAnswer: number;
  rps: number;
  window: Window;
}

/** `amount` requests at CONNECTIONS at once, with the server's CPU time over them. */
async function measure(pid: number, options: autocannon.Options, amount: number): Promise<Measured> {
  const cpuBefore = cpuUs(pid);
  const fromUs = monotonicUs();
  const result = await autocannon({ connections: CONNECTIONS, amount, ...options });
  const toUs = monotonicUs();
  const answers = result.requests.total;
  return {
    answers,
    non2xx: result.non2xx + result.errors,
    cpuUsPerAnswer: Math.round((cpuUs(pid) - cpuBefore) / answers),
    rps: Math.round(result.requests.average),
    window: { fromUs, toUs },
  };
}

/** The bare static answer: a Node HTTP server in its own process, the same bytes, nothing else. */
async function startStaticServer(audio: Buffer): Promise<{ child: ChildProcess; port: number }> {
  const file = path.join(os.tmpdir(), `khipu-static-${process.pid}.mp3`);
  await writeFile(file, audio);
  const port = await findFreePort();
  const source = `
    const bytes = require('node:fs').readFileSync(${JSON.stringify(file)});
    require('node:http').createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': bytes.length }).end(bytes);
    }).listen(${port}, '127.0.0.1', () => console.log('Listening on ${port}'));`;
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`static server exited (${code})`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => line.includes('Listening') && resolve());
  });
  return { child, port };
}

/** A host under the profiler, its profile written to `dir` when it stops. */
async function profiledHost(stack: BenchStack, dir: string, env: NodeJS.ProcessEnv = {}) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  process.env.BENCH_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${dir}`;
  const spawnedUs = monotonicUs();
  const host = await stack.startHost(env);
  delete process.env.BENCH_NODE_ARGS;
  const profile = async () => {
    await stopHost(host.child);
    const [file] = (await readdir(dir)).filter((name) => name.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no profile in ${dir}`);
    return path.join(dir, file);
  };
  return { ...host, spawnedUs, profile };
}

const us = (value: number) => Math.round(value);
const share = (summary: ProfileSummary, value: number) => `${((100 * value) / summary.busyUs).toFixed(1)} %`;

/** A profile's parts and steps, per answer. */
function perAnswer(summary: ProfileSummary, answers: number) {
  return {
    busy_us_per_answer: us(summary.busyUs / answers),
    parts_us_per_answer: Object.fromEntries(
      summary.parts.slice(0, 16).map(({ part, us: t }) => [part, `${us(t / answers)} (${share(summary, t)})`]),
    ),
    steps_us_per_answer: Object.fromEntries(
      summary.watched.map(({ name, us: t }) => [name, `${us(t / answers)} (${share(summary, t)})`]),
    ),
  };
}

async function main() {
  const stack = await startBenchStack({ toneSeconds: 4, durable: false }); // ~25 KB, as npm run bench
  const headers = { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' };
  const body = (i: number) =>
    JSON.stringify({
      voice: { id: 'es-PE-CamilaNeural', engine: 'azure', locale: 'es-PE', gender: 'F', styles: ['cheerful', 'sad'] },
      text: `Línea de prueba número ${i}, con algo de texto para que suene a audición.`,
      style: 'cheerful',
      styledegree: 1.5,
      rate_pct: -10,
      pitch_pct: 5,
      page: 'casting',
    });
  let sequence = 0;
  const requests: autocannon.Options['requests'] = [
    {
      setupRequest: (request) => ({
        ...request,
        method: 'POST',
        headers: { ...headers },
        body: body(sequence++ % LINES),
      }),
    },
  ];
  const auditionUrl = (port: number) =>
    `http://127.0.0.1:${port}/api/v1/projects/${stack.projectId}/characters/audition`;
  const floorApp = await buildBenchApp('floor-app');
  const audioFile = path.join(os.tmpdir(), `khipu-bytes-${process.pid}.mp3`);
  await writeFile(audioFile, stack.audio);
  /** The lines stored (misses), then served once each: every later request is a warm HIT. */
  const warmUp = async (port: number) => {
    for (let i = 0; i < LINES; i++) {
      const response = await fetch(auditionUrl(port), { method: 'POST', headers, body: body(i) });
      await response.arrayBuffer();
    }
  };
  try {
    // CPU per answer, no profiler attached: the warm HIT, the static answer and the function floor, interleaved.
    const app = await stack.startHost();
    await warmUp(app.port);
    const floor = await stack.startHost({ BENCH_AUDIO_FILE: audioFile }, () => {}, ['--app', floorApp.bundle]);
    const staticServer = await startStaticServer(stack.audio);
    const targets = {
      static: { pid: staticServer.child.pid!, options: { url: `http://127.0.0.1:${staticServer.port}/` } },
      floor: { pid: floor.child.pid!, options: { url: auditionUrl(floor.port), requests } },
      hit: { pid: app.child.pid!, options: { url: auditionUrl(app.port), requests } },
    };
    const rounds: Record<keyof typeof targets, Measured[]> = { static: [], floor: [], hit: [] };
    for (const { pid, options } of Object.values(targets)) await measure(pid, options, 2_000); // the JIT compiles
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, { pid, options }] of Object.entries(targets)) {
        rounds[name as keyof typeof targets].push(await measure(pid, options, WARM_HITS));
      }
    }
    await Promise.all([stopHost(staticServer.child), stopHost(floor.child), stopHost(app.child)]);
    const cpu = (name: keyof typeof targets) => median(rounds[name].map((m) => m.cpuUsPerAnswer));
    const rps = (name: keyof typeof targets) => median(rounds[name].map((m) => m.rps));

    // The warm HIT's profile: another host, under the profiler (which costs CPU of its own).
    const warm = await profiledHost(stack, path.join(PROFILES, 'warm-hit'));
    await warmUp(warm.port);
    const options = { url: auditionUrl(warm.port), requests };
    await measure(warm.child.pid!, options, 2_000); // the JIT compiles the path
    const hits = await measure(warm.child.pid!, options, WARM_HITS);
    const warmProfile = await summarizeProfile(await warm.profile(), hits.window);

    // Cold HITs: no memory tier, every hit reads the index and its blob.
    const cold = await profiledHost(stack, path.join(PROFILES, 'cold-hit'), { MEMORY_CACHE_MB: '0' });
    const coldOptions = { url: auditionUrl(cold.port), requests };
    await measure(cold.child.pid!, coldOptions, 1_000);
    const coldHits = await measure(cold.child.pid!, coldOptions, COLD_HITS);
    const coldProfile = await summarizeProfile(await cold.profile(), coldHits.window);

    // Start-up: spawn → listening → the first HIT answered, from the process's first sample.
    const start = await profiledHost(stack, path.join(PROFILES, 'start-up'));
    const listeningUs = monotonicUs();
    const first = await fetch(auditionUrl(start.port), { method: 'POST', headers, body: body(0) });
    await first.arrayBuffer();
    const answeredUs = monotonicUs();
    const startProfile = await summarizeProfile(await start.profile(), { fromUs: 0, toUs: answeredUs });

    await saveResult('profile-latest', {
      warm_hit_cpu_us: cpu('hit'),
      floor_cpu_us: cpu('floor'),
      static_cpu_us: cpu('static'),
      warm_hit_cpu_vs_static: +(cpu('hit') / cpu('static')).toFixed(2),
      floor_cpu_vs_static: +(cpu('floor') / cpu('static')).toFixed(2),
      warm_hit_cpu_beyond_floor_us: cpu('hit') - cpu('floor'),
      warm_hit_rps: rps('hit'),
      floor_rps: rps('floor'),
      static_rps: rps('static'),
      rounds: Object.fromEntries(
        Object.entries(rounds).map(([name, measured]) => [name, measured.map((m) => m.cpuUsPerAnswer).join(' / ')]),
      ),
      warm_hit_cpu_us_under_profiler: hits.cpuUsPerAnswer,
      start_first_hit_status: first.status,
      non_2xx: [...Object.values(rounds).flat(), hits, coldHits].reduce((n, m) => n + m.non2xx, 0),
      warm_hit: perAnswer(warmProfile, hits.answers),
      cold_hit_cpu_us: coldHits.cpuUsPerAnswer,
      cold_hit_rps: coldHits.rps,
      cold_hit: perAnswer(coldProfile, coldHits.answers),
      start_spawn_to_listening_ms: Math.round((listeningUs - start.spawnedUs) / 1000),
      start_spawn_to_first_hit_ms: Math.round((answeredUs - start.spawnedUs) / 1000),
      start_up: perAnswer(startProfile, 1),
      profiles: path.relative(projectRoot(), PROFILES),
    });
  } finally {
    await stack.stop();
    await floorApp.dispose();
    await rm(audioFile, { force: true });
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
