// The mixed load of `npm run bench:scale`: a fixed number of requests (so every new line asked
// for is answered, and "one synthesis per line" can be checked exactly) spread over every
// instance. Half repeat lines cached beforehand; half ask for new lines, each asked COPIES times
// in a row over the instances' connections, so different instances race for it.
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import type { BenchStack } from './bench-stack.ts';

export const HOT_LINES = 100;
export const COPIES = 3;
const VOICE = 'es-AR-ElenaNeural';

export const hotLine = (i: number) => `Línea repetida ${i}`;
const bump = (record: Record<string, number>, key: string) => (record[key] = (record[key] ?? 0) + 1);
export const percentile = (values: number[], p: number) =>
  values.length === 0
    ? 0
    : [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;

export function auditionUrl(stack: BenchStack, port: number): string {
  return `http://127.0.0.1:${port}/api/v1/projects/${stack.projectId}/characters/audition`;
}

/** One audition request with fetch: status, X-Cache-Status, milliseconds. */
export async function audition(stack: BenchStack, port: number, text: string) {
  const started = performance.now();
  const response = await fetch(auditionUrl(stack, port), {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ voice: VOICE, text }),
  });
  await response.arrayBuffer();
  return {
    status: response.status,
    cache: response.headers.get('x-cache-status') ?? '-',
    ms: Math.round(performance.now() - started),
  };
}

/** Caches the repeated lines (in Postgres and Blob Storage), 10 at a time over the instances. */
export async function warmUp(stack: BenchStack, ports: number[]): Promise<void> {
  for (let start = 0; start < HOT_LINES; start += 10) {
    await Promise.all(
      Array.from({ length: 10 }, async (_, k) => {
        const i = start + k;
        const { status } = await audition(stack, ports[i % ports.length]!, hotLine(i));
        if (status !== 200) throw new Error(`warm-up of line ${i} answered ${status}`);
      }),
    );
  }
}

export interface LoadResult {
  requests: number;
  statuses: Record<string, number>;
  cache: Record<string, number>;
  latencies: number[];
  newLines: number;
  syntheses: number;
  /** Distinct SSML documents the stand-in received more than once. */
  linesSynthesizedTwice: number;
  /** Syntheses of text that was not one of this run's new lines (a cached line synthesized again). */
  unexpectedSyntheses: number;
  errors: number;
  timeouts: number;
  seconds: number;
  connections: number;
}

/** `connections` spread over the instances (each at least 1), `requests` in all. */
export async function driveMixedLoad(
  stack: BenchStack,
  ports: number[],
  options: { requests: number; connections: number; run: string },
): Promise<LoadResult> {
  const headers = { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' };
  let sequence = 0;
  let newCount = 0;
  const newTexts = new Set<string>();
  const result = { requests: 0, statuses: {}, cache: {}, latencies: [] as number[] };
  const receivedBefore = stack.standIn.received.length;
  const started = performance.now();
  const connectionsOf = (i: number) =>
    Math.max(1, Math.floor(options.connections / ports.length) + (i < options.connections % ports.length ? 1 : 0));
  const amountOf = (i: number) =>
    Math.max(
      connectionsOf(i),
      Math.floor(options.requests / ports.length) + (i < options.requests % ports.length ? 1 : 0),
    );

  const runs = ports.map(
    (port, i) =>
      new Promise<autocannon.Result>((resolve, reject) => {
        const instance = autocannon(
          {
            url: auditionUrl(stack, port),
            connections: connectionsOf(i),
            amount: amountOf(i),
            timeout: 60,
            requests: [
              {
                method: 'POST',
                headers,
                setupRequest: (request, context) => {
                  const n = sequence++;
                  let text: string;
                  if (n % 2 === 0) {
                    text = hotLine(n % HOT_LINES);
                  } else {
                    text = `Línea nueva ${options.run} ${Math.floor(newCount++ / COPIES)}`;
                    newTexts.add(text);
                  }
                  (context as { sentAt?: number }).sentAt = performance.now();
                  return { ...request, body: JSON.stringify({ voice: VOICE, text }) };
                },
                onResponse: (status, _body, context, responseHeaders) => {
                  const now = performance.now();
                  result.requests++;
                  bump(result.statuses, String(status));
                  bump(result.cache, String(responseHeaders?.['x-cache-status'] ?? '-'));
                  result.latencies.push(now - ((context as { sentAt?: number }).sentAt ?? now));
                },
              },
            ],
          },
          (error, done) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(done)),
        );
        instance.on('error', (error: Error) => reject(error));
      }),
  );
  const results = await Promise.all(runs);
  const seconds = (performance.now() - started) / 1000;
  // A response is sent while its audio is stored; the stand-in has seen every synthesis by now.
  const received = stack.standIn.received.slice(receivedBefore).map((r) => r.ssml);
  const perSsml = new Map<string, number>();
  for (const ssml of received) perSsml.set(ssml, (perSsml.get(ssml) ?? 0) + 1);
  const isNewLine = (ssml: string) => /Línea nueva /.test(ssml);
  return {
    ...result,
    newLines: newTexts.size,
    syntheses: received.length,
    linesSynthesizedTwice: [...perSsml.values()].filter((count) => count > 1).length,
    unexpectedSyntheses: received.filter((ssml) => !isNewLine(ssml)).length,
    errors: results.reduce((sum, r) => sum + r.errors - r.timeouts, 0),
    timeouts: results.reduce((sum, r) => sum + r.timeouts, 0),
    seconds: +seconds.toFixed(1),
    connections: ports.reduce((sum, _, i) => sum + connectionsOf(i), 0),
  };
}
