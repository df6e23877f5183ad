// The instances of `npm run bench:scale`: started in parallel batches until the target, a memory
// floor or a failed start, measuring (not assuming) what each costs on a shared machine.
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import type { BenchStack } from './bench-stack.ts';
import { MIB, rssOf, rssSum } from './scale-watch.ts';

export interface Instance {
  index: number;
  child: ChildProcess;
  port: number;
  /** Its log lines about leases (`took over the lease…`, `lost the lease…`). */
  leaseLog: string[];
}

export interface Fleet {
  instances: Instance[];
  target: number;
  /** Why it stopped short of the target; undefined when it reached it. */
  stoppedBecause?: string;
  /** Stopped at the memory floor: the measured maximum, not a failure. */
  memoryBound: boolean;
  startSeconds: number;
  /** Summed VmRSS of the hosts once all were up (idle). */
  rssBytes: number;
  freeBytesAfter: number;
  hostErrorLines: string[];
}

const START_TIMEOUT_MS = 120_000;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not listening after ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function startFleet(
  stack: BenchStack,
  options: { target: number; batch: number; minFreeBytes: number; nice: number; env: NodeJS.ProcessEnv },
): Promise<Fleet> {
  const instances: Instance[] = [];
  const hostErrorLines: string[] = [];
  const started = performance.now();
  let stoppedBecause: string | undefined;
  let memoryBound = false;
  while (instances.length < options.target) {
    const free = os.freemem();
    if (free < options.minFreeBytes) {
      stoppedBecause = `free memory ${Math.round(free / MIB)} MiB < floor ${Math.round(options.minFreeBytes / MIB)} MiB`;
      memoryBound = true;
      break;
    }
    const size = Math.min(options.batch, options.target - instances.length);
    const batch = await Promise.allSettled(
      Array.from({ length: size }, async (_, i) => {
        const index = instances.length + i;
        const leaseLog: string[] = [];
        const host = await withTimeout(
          stack.startHost(options.env, (line) => {
            if (/lease of/.test(line)) leaseLog.push(line);
            if (/\b(error|fail)/i.test(line)) hostErrorLines.push(`[${index}] ${line}`);
          }),
          START_TIMEOUT_MS,
          `instance ${index}`,
        );
        // The shared services (Postgres, PgBouncer, Azurite, the stand-in, the load) have machines of
        // their own in Azure; here a hundred hosts at the same priority would starve them.
        if (options.nice !== 0 && host.child.pid !== undefined) os.setPriority(host.child.pid, options.nice);
        return { index, child: host.child, port: host.port, leaseLog };
      }),
    );
    for (const result of batch) if (result.status === 'fulfilled') instances.push(result.value);
    instances.sort((a, b) => a.index - b.index);
    const failed = batch.find((result) => result.status === 'rejected');
    const rss = rssSum(instances.map((instance) => instance.child.pid));
    console.log(
      `  ${instances.length} instances up (${((performance.now() - started) / 1000).toFixed(1)} s): ` +
        `RSS ${Math.round(rss / MIB)} MiB (${Math.round(rss / MIB / Math.max(1, instances.length))} MiB each), ` +
        `free ${Math.round(os.freemem() / MIB)} MiB`,
    );
    if (failed) {
      stoppedBecause = `an instance failed to start: ${(failed.reason as Error).message}`;
      break;
    }
  }
  const rssBytes = rssSum(instances.map((instance) => instance.child.pid));
  if (stoppedBecause) console.log(`  stopped adding instances at ${instances.length}: ${stoppedBecause}`);
  return {
    instances,
    target: options.target,
    stoppedBecause,
    memoryBound,
    startSeconds: +((performance.now() - started) / 1000).toFixed(1),
    rssBytes,
    freeBytesAfter: os.freemem(),
    hostErrorLines,
  };
}

/** The host log lines mentioning errors, by kind (timestamps, keys and numbers blurred), most frequent first. */
export function errorKinds(lines: string[], top = 6): Record<string, number> {
  const kinds = new Map<string, number>();
  for (const line of lines) {
    const kind = line
      .replace(/^\[\d+\] \[[^\]]*\] /, '')
      .replace(/[0-9a-f]{12}…/g, '…')
      .replace(/\d+/g, 'N')
      .slice(0, 160);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return Object.fromEntries([...kinds].sort((a, b) => b[1] - a[1]).slice(0, top));
}

/** RSS of each instance in MiB: min / median / max. */
export function rssSpread(instances: Instance[]): { min: number; median: number; max: number } {
  const values = instances.map((instance) => rssOf(instance.child.pid) / MIB).sort((a, b) => a - b);
  if (values.length === 0) return { min: 0, median: 0, max: 0 };
  return {
    min: Math.round(values[0]!),
    median: Math.round(values[Math.floor(values.length / 2)]!),
    max: Math.round(values.at(-1)!),
  };
}
