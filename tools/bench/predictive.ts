// npm run bench:predictive — predictive prewarm measured against `npm run serve` (not part of npm test).
//
// One host (`node dist/tools/serve.js`) on PostgreSQL, Azurite and the speech stand-in, which answers each synthesis
// after SYNTH_DELAY_MS (default 400: Azure's first byte for a short line is a few hundred ms) and streams the rest.
//
// 1. Casting sessions (SESSIONS, each a new tenant): the first default-line audition of a Spanish voice, then four
//    other Spanish voices CLICK_GAP_MS apart (a user listening to each ~4 s line): how many of the four are HIT-L2,
//    and when. Three choices of "the other four": the next in the prewarm's order (a list read top to bottom), four
//    at random among the main voices (two per locale, the 44 the web app's casting page offers), and four at random
//    among all 77 Spanish voices of the inventory (seeded).
// 2. Interactive misses (characters-page lines, each new) alone, and during predictive bursts (BURST_TENANTS
//    tenants' runs at once), alternated ROUNDS times: median latency of each, and the ratio.
import { setTimeout as sleep } from 'node:timers/promises';
import { SHIPPED_VOICES, otherVoicesOfLanguage } from '../../src/domain/voice-inventory.ts';
import { saveResult, startBenchStack } from './bench-stack.ts';

const SESSIONS = Number(process.env.SESSIONS ?? 6);
const CLICK_GAP_MS = Number(process.env.CLICK_GAP_MS ?? 5_000);
const SYNTH_DELAY_MS = Number(process.env.SYNTH_DELAY_MS ?? 400);
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const MISSES_PER_ROUND = Number(process.env.MISSES_PER_ROUND ?? 12);
const BURST_TENANTS = Number(process.env.BURST_TENANTS ?? 4);
const FIRST_VOICE = 'es-PE-CamilaNeural';

type Tenant = { projectId: string; token: string };

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)]!;
};

/** A small seeded generator (mulberry32): the same "random" voices in every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function main() {
  const stack = await startBenchStack({ toneSeconds: 1, durable: false });
  stack.standIn.behave({ kind: 'audio', delayMs: SYNTH_DELAY_MS, chunkIntervalMs: 20 });
  try {
    const { port } = await stack.startHost({});
    const base = `http://127.0.0.1:${port}/api/v1/projects`;
    const post = async (tenant: Tenant, path: string, body: object) => {
      const started = performance.now();
      const response = await fetch(`${base}/${tenant.projectId}/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenant.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      await response.arrayBuffer();
      return {
        status: response.status,
        cache: response.headers.get('x-cache-status'),
        ms: performance.now() - started,
      };
    };
    const click = (tenant: Tenant, voice: string) => post(tenant, `voices/${voice}/audition`, {});

    // 1. Casting sessions.
    const spanish = SHIPPED_VOICES.filter((v) => v.locale.startsWith('es-')).map((v) => v.name);
    const perLocale = new Map<string, number>();
    const main = SHIPPED_VOICES.filter(
      (v) =>
        v.locale.startsWith('es-') && perLocale.set(v.locale, (perLocale.get(v.locale) ?? 0) + 1).get(v.locale)! <= 2,
    ).map((v) => v.name);
    const pick = (from: string[]) =>
      from
        .filter((v) => v !== FIRST_VOICE)
        .sort(() => random() - 0.5)
        .slice(0, 4);
    const inOrder = otherVoicesOfLanguage(SHIPPED_VOICES, FIRST_VOICE, 'es-PE').map((v) => v.name);
    const random = seeded(29);
    const sessions: { order: string; hits: number; lastHitAfterMs: number }[] = [];
    for (let s = 0; s < SESSIONS; s++) {
      for (const order of ['inventory', 'random-main', 'random-all'] as const) {
        const tenant = await stack.addTenant(`Casting ${order} ${s}`);
        const others = order === 'inventory' ? inOrder.slice(0, 4) : pick(order === 'random-main' ? main : spanish);
        const started = performance.now();
        await click(tenant, FIRST_VOICE);
        let hits = 0;
        let lastHitAfterMs = 0;
        for (const voice of others) {
          await sleep(CLICK_GAP_MS);
          const answer = await click(tenant, voice);
          if (answer.cache === 'HIT-L2') {
            hits++;
            lastHitAfterMs = performance.now() - started;
          }
        }
        sessions.push({ order, hits, lastHitAfterMs });
      }
    }
    const hitsOf = (order: string) => sessions.filter((s) => s.order === order).map((s) => s.hits);

    // 2. Interactive misses alone and during predictive bursts, alternated.
    let line = 0;
    const interactive = await stack.addTenant('Characters page');
    const misses = async () => {
      const ms: number[] = [];
      await Promise.all(
        Array.from({ length: 3 }, async (_, worker) => {
          for (let i = worker; i < MISSES_PER_ROUND; i += 3) {
            const answer = await post(interactive, 'characters/audition', {
              voice: 'es-AR-ElenaNeural',
              text: `Una línea nueva del personaje, número ${line++}.`,
            });
            if (answer.cache === 'MISS') ms.push(answer.ms);
          }
        }),
      );
      return ms;
    };
    const alone: number[] = [];
    const during: number[] = [];
    const burstLanguages = ['en-US-AvaNeural', 'fr-FR-DeniseNeural', 'de-DE-KatjaNeural', 'pt-BR-FranciscaNeural'];
    for (let round = 0; round < ROUNDS; round++) {
      alone.push(...(await misses()));
      const burst = await Promise.all(
        Array.from({ length: BURST_TENANTS }, (_, i) => stack.addTenant(`Burst ${round} ${i}`)),
      );
      await Promise.all(burst.map((tenant, i) => click(tenant, burstLanguages[i % burstLanguages.length]!)));
      await sleep(200); // the runs have claimed and started
      during.push(...(await misses()));
      await sleep(SYNTH_DELAY_MS * 30); // let the bursts finish before the next quiet round
    }

    await saveResult('predictive', {
      sessions: SESSIONS,
      click_gap_ms: CLICK_GAP_MS,
      synth_delay_ms: SYNTH_DELAY_MS,
      hits_of_next_4_inventory_order_median: median(hitsOf('inventory')),
      hits_of_next_4_inventory_order_min: Math.min(...hitsOf('inventory')),
      hits_of_next_4_random_main_median: median(hitsOf('random-main')),
      hits_of_next_4_random_main_min: Math.min(...hitsOf('random-main')),
      hits_of_next_4_random_any_of_77_median: median(hitsOf('random-all')),
      hits_of_next_4_random_any_of_77_min: Math.min(...hitsOf('random-all')),
      last_hit_after_first_click_s_median: Math.round(median(sessions.map((s) => s.lastHitAfterMs))) / 1000,
      interactive_miss_p50_ms_alone: Math.round(median(alone)),
      interactive_miss_p50_ms_during_burst: Math.round(median(during)),
      during_vs_alone: Math.round((median(during) / median(alone)) * 1000) / 1000,
      interactive_misses_measured: `${alone.length} + ${during.length}`,
      syntheses_total: stack.standIn.received.length,
    });
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
