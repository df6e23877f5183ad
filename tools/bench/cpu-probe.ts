// The CPU-per-answer probe of issue 38, run by `npm run bench` and by `npm run bench:profile`: how much CPU a warm HIT
// costs against a static answer and against the function floor, on a BenchStack, with no profiler attached.
// - warm HIT: the local host serving the app, memory tier on, the web client's body and a real token over LINES lines;
// - static: a bare Node HTTP server in its own process answering the same MP3 bytes, nothing else;
// - floor: one function answering the same bytes and headers in the same local host (floor-app.ts with
//   BENCH_AUDIO_FILE, bundled like the package): what any v4 HTTP function pays before a line of ours runs;
// - library floor: that function under a bare Node HTTP server doing what the Functions library does per invocation
//   in Azure (library-floor.ts, a lower bound of it), which our local host partly bypasses.
// Each first serves 2,000 answers unmeasured (the JIT compiles its path), then `rounds` interleaved rounds of `answers`
// answers at CONNECTIONS at once; per round, each process's CPU time (utime + stime, /proc/{pid}/stat) over its
// window divided by its answers; the figures are the rounds' medians.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import autocannon from 'autocannon';
import { findFreePort } from '../local-services/free-port.ts';
import { projectRoot } from '../project-root.ts';
import { buildBenchApp } from './bench-app.ts';
import { auditionBody, stopHost, type BenchStack } from './bench-stack.ts';
import { monotonicUs, type Window } from './cpu-profile.ts';

export const CONNECTIONS = 32;
/** The lines a warm HIT cycles through: stored (misses), then served once each by warmUp. */
const LINES = 50;
const JIT_WARM_UP = 2_000;

/** A process's CPU time so far (user + system), in microseconds, from /proc. */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  return (ticks * 1_000_000) / 100; // USER_HZ is 100 on Linux
}

export interface Measured {
  answers: number;
  non2xx: number;
  cpuUsPerAnswer: number;
  rps: number;
  window: Window;
}

/** `amount` requests at CONNECTIONS at once, with the server's CPU time over them. */
export async function measure(pid: number, options: autocannon.Options, amount: number): Promise<Measured> {
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

/** The web client's auditions on the stack's project: autocannon's requests, the route, and the lines' warm-up. */
export function auditionTraffic(stack: BenchStack) {
  const headers = { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' };
  let sequence = 0;
  const requests: autocannon.Options['requests'] = [
    {
      setupRequest: (request) => ({
        ...request,
        method: 'POST',
        headers: { ...headers },
        body: auditionBody(sequence++ % LINES),
      }),
    },
  ];
  const url = (port: number) => `http://127.0.0.1:${port}/api/v1/projects/${stack.projectId}/characters/audition`;
  /** The lines stored (misses, unless already cached), then served once each: every later request is a warm HIT. */
  const warmUp = async (port: number) => {
    for (let i = 0; i < LINES; i++) {
      const response = await fetch(url(port), { method: 'POST', headers, body: auditionBody(i) });
      await response.arrayBuffer();
    }
  };
  return { headers, requests, url, warmUp };
}

/** The bare static answer: a Node HTTP server in its own process, the bytes of `file`, nothing else. */
function startStaticServer(file: string): Promise<{ child: ChildProcess; port: number }> {
  return startServer('static server', (port) => [
    '-e',
    `
    const bytes = require('node:fs').readFileSync(${JSON.stringify(file)});
    require('node:http').createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': bytes.length }).end(bytes);
    }).listen(${port}, '127.0.0.1', () => console.log('Listening on ${port}'));`,
  ]);
}

/** The library floor (library-floor.ts, this checkout's build): the floor function under a bare Node HTTP server. */
function startLibraryFloor(file: string): Promise<{ child: ChildProcess; port: number }> {
  return startServer('library floor', () => [path.join(projectRoot(), 'dist/tools/bench/library-floor.js')], {
    BENCH_AUDIO_FILE: file,
  });
}

/** A server in its own process on a free port, once it says it is listening. */
async function startServer(
  label: string,
  args: (port: number) => string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; port: number }> {
  const port = await findFreePort();
  const child = spawn(process.execPath, args(port), {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`${label} exited (${code ?? signal})`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => line.includes('Listening') && resolve());
  });
  return { child, port };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** CPU µs per answer of a warm HIT, the static answer and the two floors (medians of `rounds`), and ratios. */
export async function probeCpuPerAnswer(stack: BenchStack, { answers, rounds }: { answers: number; rounds: number }) {
  const traffic = auditionTraffic(stack);
  const floorApp = await buildBenchApp('floor-app');
  const audioFile = path.join(os.tmpdir(), `khipu-bytes-${process.pid}.mp3`);
  await writeFile(audioFile, stack.audio);
  const children: ChildProcess[] = [];
  try {
    const app = await stack.startHost();
    children.push(app.child);
    await traffic.warmUp(app.port);
    const floor = await stack.startHost({ BENCH_AUDIO_FILE: audioFile }, () => {}, ['--app', floorApp.bundle]);
    children.push(floor.child);
    const staticServer = await startStaticServer(audioFile);
    children.push(staticServer.child);
    const library = await startLibraryFloor(audioFile);
    children.push(library.child);
    const targets = {
      static: { pid: staticServer.child.pid!, options: { url: `http://127.0.0.1:${staticServer.port}/` } },
      library: { pid: library.child.pid!, options: { url: traffic.url(library.port), requests: traffic.requests } },
      floor: { pid: floor.child.pid!, options: { url: traffic.url(floor.port), requests: traffic.requests } },
      hit: { pid: app.child.pid!, options: { url: traffic.url(app.port), requests: traffic.requests } },
    };
    type Target = keyof typeof targets;
    const measured: Record<Target, Measured[]> = { static: [], library: [], floor: [], hit: [] };
    for (const { pid, options } of Object.values(targets)) await measure(pid, options, JIT_WARM_UP);
    for (let round = 0; round < rounds; round++) {
      for (const [name, { pid, options }] of Object.entries(targets)) {
        measured[name as Target].push(await measure(pid, options, answers));
      }
    }
    const cpu = (name: Target) => median(measured[name].map((m) => m.cpuUsPerAnswer));
    const rps = (name: Target) => median(measured[name].map((m) => m.rps));
    return {
      warm_hit_cpu_us: cpu('hit'),
      floor_cpu_us: cpu('floor'),
      library_floor_cpu_us: cpu('library'),
      static_cpu_us: cpu('static'),
      // The goal: ≤ 3.
      warm_hit_cpu_vs_static: +(cpu('hit') / cpu('static')).toFixed(2),
      floor_cpu_vs_static: +(cpu('floor') / cpu('static')).toFixed(2),
      // What the Functions library alone costs per invocation in Azure (a lower bound), before any code of ours.
      library_floor_cpu_vs_static: +(cpu('library') / cpu('static')).toFixed(2),
      warm_hit_cpu_beyond_floor_us: cpu('hit') - cpu('floor'),
      warm_hit_rps: rps('hit'),
      floor_rps: rps('floor'),
      static_rps: rps('static'),
      // Each round's, in order: the machine is shared, and a median hides how much it moved.
      rounds: Object.fromEntries(
        Object.entries(measured).map(([name, runs]) => [name, runs.map((m) => m.cpuUsPerAnswer).join(' / ')]),
      ),
      non_2xx: Object.values(measured)
        .flat()
        .reduce((n, m) => n + m.non2xx, 0),
    };
  } finally {
    await Promise.all(children.map((child) => stopHost(child)));
    await floorApp.dispose();
    await rm(audioFile, { force: true });
  }
}
