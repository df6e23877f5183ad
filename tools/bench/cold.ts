// npm run bench:cold — what a new instance costs its first caller (not part of npm test).
//
// Packages the app (tools/package.ts, as `npm run package`: npm run bench:cold runs it first), starts PostgreSQL,
// Azurite and the speech stand-in, then runs the cold-start rounds of start-up.ts (COLD_RUNS, 5): each round, the
// floors (a one-function app answering a constant, floor-app.ts, and a bare Node server), then fresh hosts on the
// deployment package's bundle and on the compiled sources — start → listening (and its split), → first HIT (auth and
// blob Server-Timing), and start → the first MISS's first audio byte in another fresh host; peak RSS once listening.
// Medians, each round's floors, and the package's size (zip, unpacked), into bench/results/cold-latest.json.
// `npm run bench` runs the same rounds on the package alone and keeps the first HIT's figures.
import path from 'node:path';
import { packageApp } from '../package.ts';
import { saveResult, startBenchStack } from './bench-stack.ts';
import { FIRST_CHUNK_MS, measureStartUp } from './start-up.ts';

const RUNS = Number(process.env.COLD_RUNS ?? 5);
const round = (value: number) => Math.round(value * 10) / 10;

async function main() {
  // What is deployed: the bundle `npm run package` wrote (npm run bench:cold builds it first).
  const pkg = await packageApp();
  const bundle = path.join(pkg.dir, 'dist/main.js');
  const stack = await startBenchStack({ toneSeconds: 1, durable: false });
  try {
    const startUp = await measureStartUp(stack, { runs: RUNS, bundle, compiledSources: true });
    await saveResult('cold-latest', {
      runs: RUNS,
      // The floor: a minimal function answering a constant, through the same host.
      floor_first_answer_ms: startUp.floorMs,
      node_floor_first_answer_ms: startUp.nodeFloorMs,
      // Each round's, in order: the machine is shared, and a median hides how much it moved.
      floor_runs_ms: startUp.floorRunsMs,
      node_floor_runs_ms: startUp.nodeFloorRunsMs,
      stand_in_first_chunk_ms: FIRST_CHUNK_MS,
      // The targets: both ≤ 400 ms.
      target_first_hit_over_floor_ms: startUp.deployed.first_hit_over_floor_ms,
      target_first_miss_over_floor_and_stand_in_ms: startUp.deployed.first_miss_over_floor_and_stand_in_ms,
      deployment_package: startUp.deployed,
      compiled_sources: startUp.sources,
      package_zip_mb: round(pkg.zipBytes / 1e6),
      package_unpacked_mb: round(pkg.unpackedBytes / 1e6),
      package_files: pkg.files.length,
    });
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
