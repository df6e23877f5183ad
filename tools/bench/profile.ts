// npm run bench:profile — where the time of a HIT goes (not part of npm test).
//
// On PostgreSQL, Azurite and the speech stand-in:
// - CPU per answer, with no profiler attached (cpu-probe.ts, which `npm run bench` runs too, with fewer answers):
//   PROFILE_WARM_HITS (20,000) warm HITs, as many static answers (a bare Node HTTP server answering the same MP3 bytes)
//   and as many answers of the warm HIT's floor (one function answering the same bytes and headers in the same local
//   host, floor-app.ts) and of the library floor (that function with only the Functions library's own work around it,
//   library-floor.ts), in 3 interleaved rounds (medians), each process's CPU time (utime + stime, /proc) over its
//   window divided by its answers;
// - then, in hosts started under `node --cpu-prof`: the warm HIT's profile over as many warm HITs, by part of the
//   program (cpu-profile.ts), and the inclusive time of our steps (authentication, body parsing, key derivation,
//   memory tier, response, request log, metrics…);
// - the same for PROFILE_COLD_HITS (5,000) cold HITs (MEMORY_CACHE_MB=0: the index and a blob read each);
// - start-up: a fresh host from spawn to its first HIT answered, its profile from the process's start.
// The profiles stay in bench/results/profiles/ (open them in Chrome DevTools or speedscope); the summary is
// bench/results/profile-latest.json.
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { projectRoot } from '../project-root.ts';
import { auditionBody, saveResult, startBenchStack, stopHost, type BenchStack } from './bench-stack.ts';
import { auditionTraffic, measure, probeCpuPerAnswer } from './cpu-probe.ts';
import { monotonicUs, summarizeProfile, type ProfileSummary } from './cpu-profile.ts';

const WARM_HITS = Number(process.env.PROFILE_WARM_HITS ?? 20_000);
const COLD_HITS = Number(process.env.PROFILE_COLD_HITS ?? 5_000);
const ROUNDS = 3;
const PROFILES = path.join(projectRoot(), 'bench/results/profiles');

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
  const { headers, requests, url: auditionUrl, warmUp } = auditionTraffic(stack);
  try {
    // CPU per answer, no profiler attached: the warm HIT, the static answer and the function floor, interleaved.
    const { non_2xx: probeNon2xx, ...cpu } = await probeCpuPerAnswer(stack, { answers: WARM_HITS, rounds: ROUNDS });

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
    const first = await fetch(auditionUrl(start.port), { method: 'POST', headers, body: auditionBody(0) });
    await first.arrayBuffer();
    const answeredUs = monotonicUs();
    const startProfile = await summarizeProfile(await start.profile(), { fromUs: 0, toUs: answeredUs });

    await saveResult('profile-latest', {
      ...cpu,
      warm_hit_cpu_us_under_profiler: hits.cpuUsPerAnswer,
      start_first_hit_status: first.status,
      non_2xx: probeNon2xx + hits.non2xx + coldHits.non2xx,
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
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
