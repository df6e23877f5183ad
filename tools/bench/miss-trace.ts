// npx tsx tools/bench/miss-trace.ts — which src/ functions one cold miss runs, below the handler (not part of npm test);
// with `--time N`: the use case's own time per cold miss instead, the median and p90 of N misses one after another.
//
// Builds the audition use case on the in-memory twins (leases, memory tier, index, blob store, a synthesizer that
// streams), plays one line to warm every module up, then counts, with V8's precise coverage, the src/ functions and
// files that run while a second, new line is missed, synthesized, streamed to its caller and stored. A function counts
// once however often it ran; `calls` is the sum of V8's call counts (the same function called twice counts twice).
import inspector from 'node:inspector/promises';
import path from 'node:path';
import { AuditionService } from '../../src/audition/audition-service.ts';
import { HitRecorder } from '../../src/cache/hit-recorder.ts';
import { MemoryAudioTier } from '../../src/cache/memory-audio-tier.ts';
import { Timings } from '../../src/timing.ts';
import { testAudition } from '../../test/support/auditions.ts';
import { auditionDeps } from '../../test/support/required-deps.ts';
import { MemoryAudioCacheIndex } from '../../test/twins/memory-audio-cache-index.ts';
import { MemoryBlobStore } from '../../test/twins/memory-blob-store.ts';
import { MemoryCacheDatabase } from '../../test/twins/memory-cache-database.ts';
import { MemoryLeases } from '../../test/twins/memory-leases.ts';
import { MemorySynthesizer } from '../../test/twins/memory-synthesizer.ts';

const TENANT = '6f1c1f2e-1d6a-4c55-9a57-2b1c8a0d0001';
const src = path.resolve('src') + path.sep; // run from the repository's root, as npm runs it
const silent = { info: () => {}, warn: () => {}, error: () => {} };
const now = () => new Date('2031-03-01T10:00:00Z');

const database = new MemoryCacheDatabase(now);
const index = new MemoryAudioCacheIndex(database);
const hits = new HitRecorder(index, silent, 60_000);
const service = new AuditionService(
  auditionDeps({
    index,
    blobStore: new MemoryBlobStore(now),
    synthesizer: new MemorySynthesizer(),
    hits,
    memory: new MemoryAudioTier({ maxBytes: 10_000_000, ttlMs: 300_000, now }),
    leases: new MemoryLeases(database),
    cache: { ttlDays: 30, lineLeaseMs: 6_000 },
    speech: {
      defaultKey: undefined,
      defaultRegion: 'eastus',
      host: undefined,
      maxConcurrency: 4,
      queueWaitMs: 1_000,
      timeoutMs: 5_000,
      defaultKeyCharsPerTenantPerDay: 0,
    },
    now,
  }),
);

async function coldMiss(text: string): Promise<string> {
  const answer = await service.getAudio({
    caller: { userId: '0b6f0c1e-0000-4000-8000-000000000001', tenantId: TENANT, role: 'user' },
    project: { id: '0b6f0c1e-0000-4000-8000-0000000000aa', tenantId: TENANT, ttsKey: 'k', ttsRegion: 'eastus' },
    audition: testAudition(text),
    log: silent,
    timings: new Timings(),
  });
  if (!Buffer.isBuffer(answer.audio)) await new Response(answer.audio).arrayBuffer();
  await service.drain();
  return answer.status;
}

/** N cold misses one after another (after 50 to warm up): the use case on the twins, nothing else. */
async function time(n: number): Promise<void> {
  for (let i = 0; i < 50; i++) await coldMiss(`A line to warm up with, number ${i}.`);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await coldMiss(`A timed line, number ${i}, never asked for before.`);
    times.push(performance.now() - started);
  }
  await hits.close();
  times.sort((a, b) => a - b);
  const at = (q: number) => +times[Math.floor(n * q)]!.toFixed(3);
  console.log(JSON.stringify({ misses: n, p50_ms: at(0.5), p90_ms: at(0.9) }));
}

async function main(): Promise<void> {
  const session = new inspector.Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false });
  await coldMiss('A first line, to load and warm every module.');
  await session.post('Profiler.takePreciseCoverage'); // resets the counts
  const status = await coldMiss('The line this trace follows, never asked for before.');
  const { result } = await session.post('Profiler.takePreciseCoverage');
  await hits.close();

  const byFile = new Map<string, { functions: string[]; calls: number }>();
  // tsx compiles each module to CommonJS: an export is read through a getter named after it, and esbuild adds helpers
  // (`__name`, `get`, class field initializers). Those are the loader's, not ours: of two functions of one name in a
  // file, the one with the longer source is the real one.
  const loaderOnly = new Set(['get', '__name', '<instance_members_initializer>', '']);
  for (const script of result) {
    const file = script.url.startsWith('file://') ? new URL(script.url).pathname : script.url;
    if (!file.startsWith(src) || file.includes(`${path.sep}generated${path.sep}`)) continue;
    const real = new Map<string, { count: number; length: number }>();
    for (const fn of script.functions) {
      const range = fn.ranges[0];
      if (!range || range.count === 0 || loaderOnly.has(fn.functionName)) continue;
      const length = range.endOffset - range.startOffset;
      const seen = real.get(fn.functionName);
      if (!seen || seen.length < length) real.set(fn.functionName, { count: range.count, length });
    }
    if (real.size === 0) continue;
    byFile.set(path.relative(src, file), {
      functions: [...real].map(([name, { count }]) => `${name}×${count}`),
      calls: [...real.values()].reduce((sum, { count }) => sum + count, 0),
    });
  }
  const files = [...byFile.entries()].sort(([a], [b]) => a.localeCompare(b));
  for (const [file, { functions }] of files) console.log(`${file}: ${functions.join(', ')}`);
  const functions = files.reduce((sum, [, f]) => sum + f.functions.length, 0);
  const calls = files.reduce((sum, [, f]) => sum + f.calls, 0);
  console.log(JSON.stringify({ status, files: files.length, functions, calls }));
}

const timed = process.argv.indexOf('--time');
void (timed >= 0 ? time(Number(process.argv[timed + 1] ?? 400)) : main());
