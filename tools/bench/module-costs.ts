// npm run build && node dist/tools/bench/module-costs.js — what each dependency costs a new instance to load (not part
// of npm test).
//
// Each package the app loads at start, and each it loads only on first use, required alone in a fresh Node process
// (MODULE_RUNS, 5, medians): the milliseconds from before the require() to after it, which is what it adds to an
// instance's start when nothing before it loaded what it shares with others (the @azure/core-* packages, for one). The
// deployment bundle loads them from one file (npm run bench:cold measures that whole); this says which of them it
// spends its time on. Also Prisma's client: its construction, and its first $connect (the query compiler loaded).
// Writes bench/results/module-costs.json.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../project-root.ts';
import { saveResult } from './bench-stack.ts';

const RUNS = Number(process.env.MODULE_RUNS ?? 5);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Loaded when a worker starts (the trigger files' imports). */
const AT_START = [
  '@azure/functions',
  '@azure/storage-blob',
  'pg',
  '@prisma/adapter-pg',
  'jose',
  'zod',
  'lru-cache',
  'ipaddr.js',
];
/** Loaded on first use only (a require() the bundle keeps lazy). */
const ON_FIRST_USE = [
  'microsoft-cognitiveservices-speech-sdk',
  '@azure/identity',
  'music-metadata',
  '@azure/monitor-opentelemetry-exporter',
  '@opentelemetry/sdk-metrics',
];

function timeIt(source: string): number {
  const out = execFileSync(process.execPath, ['-e', source], { cwd: projectRoot(), encoding: 'utf8' });
  return Number(out.trim().split('\n').at(-1));
}

const requireTime = (name: string) =>
  `const t = performance.now(); require(${JSON.stringify(name)}); console.log(performance.now() - t);`;

async function main() {
  const client = path.join(projectRoot(), 'dist/src/generated/prisma/client.js');
  const prisma = {
    // The generated client and its runtime, then a client built over a pool, then its first $connect.
    load: `const t = performance.now(); require(${JSON.stringify(client)}); console.log(performance.now() - t);`,
    construct: `
      const { PrismaClient } = require(${JSON.stringify(client)});
      const { PrismaPg } = require('@prisma/adapter-pg');
      const t = performance.now();
      new PrismaClient({ adapter: new PrismaPg({ connectionString: 'postgres://nobody@127.0.0.1:1/none' }) });
      console.log(performance.now() - t);`,
  };
  const rows: Record<string, { when: string; ms: number }> = {};
  for (const [when, names] of [
    ['start', AT_START],
    ['first use', ON_FIRST_USE],
  ] as const) {
    for (const name of names) {
      const runs = Array.from({ length: RUNS }, () => timeIt(requireTime(name)));
      rows[name] = { when, ms: +median(runs).toFixed(1) };
    }
  }
  rows['prisma client (generated + runtime)'] = {
    when: 'start',
    ms: +median(Array.from({ length: RUNS }, () => timeIt(prisma.load))).toFixed(1),
  };
  rows['new PrismaClient (adapter-pg)'] = {
    when: 'start',
    ms: +median(Array.from({ length: RUNS }, () => timeIt(prisma.construct))).toFixed(1),
  };
  console.table(rows);
  await saveResult('module-costs', { runs: RUNS, modules: rows }, ['modules']);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
