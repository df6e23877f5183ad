// npm run bench:stalls — the service while its dependencies hang (not part of npm test).
//
// Two hosts (`node dist/tools/serve.js`, MEMORY_CACHE_MB=0 so every hit reads Postgres and
// Blob Storage) on one PostgreSQL, one Azurite and the speech stand-in, the first two behind
// TCP proxies that can stop forwarding (a hung process: connections accepted, nothing answered).
// 16 clients of 2 tenants send a steady mix of cold hits (70 %) and new lines. In turn, Blob
// Storage, the database and the speech service hang for STALL_SECONDS (default 100), each
// phase followed by a recovery phase; per phase it reports the answers by status and cache
// status, latency (p50, p99, max), and how long after the dependency came back the first
// HIT-L2 came. HOST_ROOT=<checkout> runs another version's hosts on the same stack (its
// `dist/` built), for a before/after in one run.
import { setTimeout as sleep } from 'node:timers/promises';
import { startTcpProxy } from '../local-services/tcp-proxy.ts';
import { saveResult, startBenchStack, stopHost } from './bench-stack.ts';

const STALL_SECONDS = Number(process.env.STALL_SECONDS ?? 100);
const CALM_SECONDS = Number(process.env.CALM_SECONDS ?? 15);
const CLIENTS = 16;
const STORED_LINES = 40;
/** A client gives up on an answer after this long (and counts it as unanswered). */
const CLIENT_TIMEOUT_MS = (STALL_SECONDS + 30) * 1000;

interface Answer {
  phase: string;
  kind: 'hit' | 'new';
  status: number | 'none';
  cache: string;
  ms: number;
  at: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main() {
  const stack = await startBenchStack({ toneSeconds: 1, durable: false, hostRoot: process.env.HOST_ROOT });
  const azuritePort = stack.azurite.port;
  const pgPort = Number(new URL(stack.pg.adminUrl.replace(/^postgres(ql)?:/, 'http:')).port);
  const blobs = await startTcpProxy({ host: '127.0.0.1', port: azuritePort });
  const database = await startTcpProxy({ host: '127.0.0.1', port: pgPort });
  const hostLines: string[] = [];
  const hosts: Awaited<ReturnType<typeof stack.startHost>>[] = [];
  try {
    const dbUrl = new URL(stack.pg.adminUrl);
    dbUrl.host = `127.0.0.1:${database.port}`;
    const env = {
      DATABASE_URL: dbUrl.toString(),
      AZURE_STORAGE_CONNECTION_STRING: stack.azurite.connectionString.replace(`:${azuritePort}/`, `:${blobs.port}/`),
      MEMORY_CACHE_MB: '0',
    };
    for (let i = 0; i < 2; i++) hosts.push(await stack.startHost(env, (line) => hostLines.push(`[host ${i}] ${line}`)));
    const tenants = [{ projectId: stack.projectId, token: stack.token }, await stack.addTenant('Second')];

    const request = async (host: number, tenant: number, text: string) => {
      const { projectId, token } = tenants[tenant]!;
      const response = await fetch(
        `http://127.0.0.1:${hosts[host]!.port}/api/v1/projects/${projectId}/characters/audition`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text }),
          signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
        },
      );
      await response.arrayBuffer().catch(() => undefined); // a body cut off midway
      return { status: response.status, cache: response.headers.get('x-cache-status') ?? '-' };
    };
    const stored = (tenant: number, i: number) => `Línea guardada ${i} del inquilino ${tenant}`;
    for (let tenant = 0; tenant < 2; tenant++)
      for (let i = 0; i < STORED_LINES; i++) await request(0, tenant, stored(tenant, i));

    const answers: Answer[] = [];
    let phase = 'calm';
    let running = true;
    let sequence = 0;
    const started = performance.now();
    const client = async (id: number) => {
      while (running) {
        const n = sequence++;
        const tenant = id % 2;
        const kind = n % 10 < 7 ? 'hit' : 'new';
        const text = kind === 'hit' ? stored(tenant, n % STORED_LINES) : `Línea nueva ${n} ${Date.now()}`;
        const asked = phase;
        const t0 = performance.now();
        const answer = await request(id % 2 === 0 ? 0 : 1, tenant, text).catch(() => ({
          status: 'none' as const,
          cache: '-',
        }));
        answers.push({ phase: asked, kind, ...answer, ms: performance.now() - t0, at: performance.now() - started });
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, id) => client(id));

    const phases: { name: string; resumedAt?: number }[] = [];
    const run = async (name: string, seconds: number, hang?: () => void, resume?: () => void) => {
      phase = name;
      hang?.();
      await sleep(seconds * 1000);
      resume?.();
      phases.push({ name, resumedAt: resume ? performance.now() - started : undefined });
    };
    await run('calm', CALM_SECONDS);
    await run(
      'blob storage hung',
      STALL_SECONDS,
      () => blobs.pause(),
      () => blobs.resume(),
    );
    await run('after blob storage', CALM_SECONDS);
    await run(
      'database hung',
      STALL_SECONDS,
      () => database.pause(),
      () => database.resume(),
    );
    await run('after the database', CALM_SECONDS);
    await run(
      'speech stalls midway',
      STALL_SECONDS,
      () => stack.standIn.behave({ kind: 'audio', stallAfterChunks: 1 }),
      () => stack.standIn.behave({ kind: 'audio' }),
    );
    await run('after speech', CALM_SECONDS);
    running = false;
    await Promise.all(clients);

    const report: Record<string, unknown> = {};
    for (const { name, resumedAt } of phases) {
      const inPhase = answers.filter((a) => a.phase === name);
      const ms = inPhase.map((a) => a.ms).sort((a, b) => a - b);
      const counts: Record<string, number> = {};
      for (const a of inPhase) counts[`${a.status} ${a.cache}`] = (counts[`${a.status} ${a.cache}`] ?? 0) + 1;
      const firstHit =
        resumedAt === undefined ? undefined : answers.find((a) => a.at - a.ms >= resumedAt && a.cache === 'HIT-L2');
      report[name] = {
        answers: inPhase.length,
        byStatus: counts,
        p50Ms: Math.round(percentile(ms, 50)),
        p99Ms: Math.round(percentile(ms, 99)),
        maxMs: Math.round(ms.at(-1) ?? NaN),
        ...(resumedAt === undefined
          ? {}
          : { firstHitAfterResumeMs: firstHit ? Math.round(firstHit.at - resumedAt) : null }),
      };
    }
    const warnings = hostLines.filter((line) => /\b(warning|error):/.test(line));
    report.hostWarnings = warnings.length;
    if (process.env.STALLS_VERBOSE === '1') {
      console.log(warnings.join('\n'));
      for (const { name } of phases) {
        const slowest = answers
          .filter((a) => a.phase === name)
          .sort((a, b) => b.ms - a.ms)
          .slice(0, 8);
        console.log(
          name,
          slowest.map((a) => `${a.kind} ${a.status} ${a.cache} ${Math.round(a.ms)}ms@${Math.round(a.at)}`).join(', '),
        );
      }
    }
    report.stallSeconds = STALL_SECONDS;
    report.host = process.env.HOST_ROOT ?? 'this checkout';
    console.log(JSON.stringify(report, null, 2));
    await saveResult(process.env.HOST_ROOT ? 'stalls-other' : 'stalls-latest', { report: JSON.stringify(report) });
  } finally {
    for (const host of hosts) await stopHost(host.child);
    blobs.resume();
    database.resume();
    await blobs.close();
    await database.close();
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
