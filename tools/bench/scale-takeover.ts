// The takeover of `npm run bench:scale`: instance A holds a line's lease and is frozen (SIGSTOP)
// one second into its synthesis; the same line asked of instance B must be answered once A's
// lease has expired plus one synthesis, and A, woken, must not overwrite B's entry.
import pg from 'pg';
import type { BenchStack } from './bench-stack.ts';
import type { Instance } from './scale-fleet.ts';
import { audition } from './scale-load.ts';

export const TAKEOVER_SPEECH_MS = 3_000;
const FREEZE_AFTER_MS = 1_000;
const MARGIN_MS = 1_500;

export interface Takeover {
  lease_seconds: number;
  instance_a: number;
  instance_b: number;
  b_ms_from_freeze: number;
  b_status: number;
  b_cache: string;
  bound_ms: number;
  within_bound: boolean;
  b_logged_takeover: string;
  a_status: number;
  a_cache: string;
  a_logged_lost_lease: boolean;
  rows_for_line: number;
  syntheses: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await condition()) return true;
    await sleep(50);
  }
  return condition();
}

async function rowsFor(adminUrl: string, text: string): Promise<number> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM audio_cache WHERE text = $1', [
      text,
    ]);
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

export async function measureTakeover(
  stack: BenchStack,
  a: Instance,
  b: Instance,
  leaseSeconds: number,
): Promise<Takeover> {
  const text = `Se congela ${Date.now()}`;
  const synthesesOf = () => stack.standIn.received.filter((r) => r.ssml.includes(text)).length;
  stack.standIn.behave({ kind: 'audio', delayMs: TAKEOVER_SPEECH_MS });
  const fromA = audition(stack, a.port, text);
  fromA.catch(() => {}); // awaited below
  let frozen = false;
  try {
    if (!(await until(() => synthesesOf() === 1, 20_000))) throw new Error('the stand-in never received A’s line');
    await sleep(FREEZE_AFTER_MS);
    a.child.kill('SIGSTOP');
    frozen = true;
    const freezeAt = performance.now();
    const fromB = await audition(stack, b.port, text);
    const bMs = Math.round(performance.now() - freezeAt);
    // B's entry is stored once its response has ended.
    await until(async () => (await rowsFor(stack.pg.adminUrl, text)) === 1, 10_000);
    a.child.kill('SIGCONT');
    frozen = false;
    const late = await fromA;
    const lost = await until(() => a.leaseLog.some((line) => line.includes('lost the lease of')), 10_000);
    const boundMs = leaseSeconds * 1000 + TAKEOVER_SPEECH_MS + MARGIN_MS;
    return {
      lease_seconds: leaseSeconds,
      instance_a: a.index,
      instance_b: b.index,
      b_ms_from_freeze: bMs,
      b_status: fromB.status,
      b_cache: fromB.cache,
      bound_ms: boundMs,
      within_bound: fromB.status === 200 && bMs <= boundMs,
      b_logged_takeover: b.leaseLog.find((line) => line.includes('took over the lease of'))?.trim() ?? '(none)',
      a_status: late.status,
      a_cache: late.cache,
      a_logged_lost_lease: lost,
      rows_for_line: await rowsFor(stack.pg.adminUrl, text),
      syntheses: synthesesOf(),
    };
  } finally {
    if (frozen) a.child.kill('SIGCONT');
    stack.standIn.behave({ kind: 'audio' });
  }
}
