// Reading a V8 .cpuprofile (node --cpu-prof) for `npm run bench:profile`: where the time of a window went, by part of
// the program. V8 stamps samples on the monotonic clock in microseconds, as process.hrtime does, so a window measured
// by another process on the same machine selects the samples taken in it.
import { readFile } from 'node:fs/promises';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A window on the monotonic clock, in microseconds (process.hrtime.bigint() / 1000n). */
export interface Window {
  fromUs: number;
  toUs: number;
}

/** The parts the issue names, recognised by the frame's file and function; the first that matches wins. */
const PARTS: { part: string; matches: (frame: CallFrame) => boolean }[] = [
  { part: 'idle', matches: (f) => f.functionName === '(idle)' },
  { part: 'garbage collection', matches: (f) => f.functionName === '(garbage collector)' },
  { part: 'JWT verification (jose, node:crypto)', matches: (f) => /node_modules\/jose\//.test(f.url) },
  { part: 'authorization cache (lru-cache)', matches: (f) => /node_modules\/lru-cache\//.test(f.url) },
  { part: 'validation (zod)', matches: (f) => /node_modules\/zod\//.test(f.url) },
  { part: 'Prisma client runtime', matches: (f) => /@prisma\/|\/generated\/prisma\//.test(f.url) },
  { part: 'pg driver', matches: (f) => /node_modules\/(pg|pg-protocol|pg-pool)\//.test(f.url) },
  { part: 'Blob SDK (@azure/storage-blob, core-*)', matches: (f) => /@azure\/(storage-blob|core-|abort)/.test(f.url) },
  { part: 'telemetry (OpenTelemetry)', matches: (f) => /@opentelemetry\/|monitor-opentelemetry/.test(f.url) },
  { part: 'Functions library (@azure/functions)', matches: (f) => /@azure\/functions\//.test(f.url) },
  { part: 'local host (tools/local-host, serve)', matches: (f) => /\/tools\/(local-host\/|serve)/.test(f.url) },
  { part: 'Web Streams (node:internal/webstreams)', matches: (f) => /internal\/webstreams\//.test(f.url) },
  { part: 'fetch Headers/Response (undici)', matches: (f) => /internal\/deps\/undici|undici/.test(f.url) },
  { part: 'app: handlers', matches: (f) => /\/src\/handlers\//.test(f.url) },
  { part: 'app: auth', matches: (f) => /\/src\/auth\//.test(f.url) },
  { part: 'app: audition use case', matches: (f) => /\/src\/audition\//.test(f.url) },
  { part: 'app: cache mechanics', matches: (f) => /\/src\/cache\//.test(f.url) },
  { part: 'app: domain (key derivation, validation)', matches: (f) => /\/src\/domain\//.test(f.url) },
  { part: 'app: adapters', matches: (f) => /\/src\/adapters\//.test(f.url) },
  { part: 'app: other (timing, logging, telemetry.ts)', matches: (f) => /\/src\//.test(f.url) },
  { part: 'node: http and net', matches: (f) => /^node:(_http|http|net|internal\/(http|stream_base|net))/.test(f.url) },
  { part: 'node: streams', matches: (f) => /^node:(internal\/streams|stream)/.test(f.url) },
  { part: 'node: crypto', matches: (f) => /^node:(internal\/crypto|crypto)/.test(f.url) },
  { part: 'node: other', matches: (f) => f.url.startsWith('node:') },
  { part: 'V8 builtins and natives', matches: (f) => f.url === '' },
];

/** Our own functions worth seeing whole (their callees included): each sample under one counts once for it. */
const WATCHED = [
  'authenticate',
  'authorizeProject',
  'readJsonBody',
  'readJsonText', // the body's text, before the parsed-audition memo
  'auditionOf', // the memo: parsed and validated only on a body not seen before
  'parseAuditionBody',
  'parseVoiceAudition',
  'auditionJob',
  'cacheKeyOf',
  'computeCacheKey',
  'fromMemory',
  'lookUpStreaming',
  'audioResponse',
  'toHeader',
  'logRequest',
  'audition', // CacheMetrics.audition
  'afterAudition',
  'send', // the local host writing the answer
  'streamingRequest',
];

export interface ProfileSummary {
  /** Microseconds sampled in the window (idle excluded). */
  busyUs: number;
  /** Self time by part, in microseconds, largest first. */
  parts: { part: string; us: number }[];
  /** Inclusive time of the watched functions, in microseconds. */
  watched: { name: string; us: number }[];
}

/** Where the window's busy time went: self time by part, and the watched functions' inclusive time. */
export async function summarizeProfile(file: string, window?: Window): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const partOf = new Map<number, string>();
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let at = profile.startTime;
  let busyUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    const weight = profile.timeDeltas[i + 1] ?? 0; // the time until the next sample
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const id = profile.samples[i]!;
    const node = byId.get(id)!;
    let part = partOf.get(id);
    if (part === undefined) {
      part = PARTS.find(({ matches }) => matches(node.callFrame))?.part ?? 'other';
      partOf.set(id, part);
    }
    self.set(part, (self.get(part) ?? 0) + weight);
    if (part === 'idle') continue;
    busyUs += weight;
    const seen = new Set<string>();
    for (let frame: number | undefined = id; frame !== undefined; frame = parent.get(frame)) {
      const { functionName, url } = byId.get(frame)!.callFrame;
      if (!WATCHED.includes(functionName) || seen.has(functionName)) continue;
      if (!/\/(src|tools)\//.test(url)) continue;
      seen.add(functionName);
      inclusive.set(functionName, (inclusive.get(functionName) ?? 0) + weight);
    }
  }
  return {
    busyUs,
    parts: [...self.entries()]
      .filter(([part]) => part !== 'idle')
      .map(([part, us]) => ({ part, us }))
      .sort((a, b) => b.us - a.us),
    watched: WATCHED.filter((name) => inclusive.has(name)).map((name) => ({ name, us: inclusive.get(name)! })),
  };
}

/** Microseconds now on the clock V8 stamps its samples with. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
