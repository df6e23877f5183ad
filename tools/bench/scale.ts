// npm run bench:scale — many instances on one small database (not part of npm test).
//
// Starts PostgreSQL with max_connections=50 (a small Azure server), Azurite and the speech
// stand-in, and a login role for the app. By default (SCALE_POOLER=pgbouncer) a real PgBouncer
// in transaction mode sits in front of it (default_pool_size SCALE_POOL_SIZE (30), as Azure's
// built-in PgBouncer would), and every instance's DATABASE_URL goes through it with
// DATABASE_POOL_MAX=2. SCALE_POOLER=direct connects the instances straight to Postgres with
// the role's CONNECTION LIMIT (SCALE_CONNECTION_LIMIT) instead, for comparison.
//
// Starts SCALE_INSTANCES (100) instances of the local host (`node dist/tools/serve.js`), 10 at a
// time, measuring their RSS and the machine's free memory as they start; it stops adding them
// below SCALE_MIN_FREE_GIB (2) of free memory or when one fails to start, and says so. Then:
//
// 1. Mixed load over every instance (scale-load.ts): SCALE_REQUESTS requests over
//    SCALE_CONCURRENCY connections; half repeat cached lines, half ask for new lines, each asked
//    3 times over different instances. Errors must be 0 and syntheses exactly one per new line.
//    Meanwhile pg_stat_activity and PgBouncer's SHOW POOLS are sampled every 50 ms.
// 2. Takeover (scale-takeover.ts): a holder frozen one second into a 3 s synthesis; the time
//    another instance takes to answer the same line, and the holder's late write refused.
//
// Prints a checks table, writes bench/results/scale-<SCALE_LABEL or the pooler>.json and exits
// non-zero if a check fails. SCALE_HOST_ROOT runs another checkout's build on the same stack.
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startPgBouncer, type RunningPgBouncer } from '../local-services/pgbouncer.ts';
import { saveResult, startBenchStack } from './bench-stack.ts';
import { errorKinds, rssSpread, startFleet } from './scale-fleet.ts';
import { driveMixedLoad, percentile, warmUp } from './scale-load.ts';
import { measureTakeover, type Takeover } from './scale-takeover.ts';
import { MIB, watchConnections } from './scale-watch.ts';

const POOLER = process.env.SCALE_POOLER === 'direct' ? 'direct' : 'pgbouncer';
const INSTANCES = Number(process.env.SCALE_INSTANCES ?? 100);
const BATCH = Number(process.env.SCALE_BATCH ?? 10);
const MIN_FREE_BYTES = Number(process.env.SCALE_MIN_FREE_GIB ?? 2) * 2 ** 30;
const MAX_CONNECTIONS = Number(process.env.SCALE_MAX_CONNECTIONS ?? 50);
const POOL_SIZE = Number(process.env.SCALE_POOL_SIZE ?? 30);
const CONNECTION_LIMIT = Number(process.env.SCALE_CONNECTION_LIMIT ?? 35);
const POOL_MAX = Number(process.env.SCALE_POOL_MAX ?? (POOLER === 'direct' ? 5 : 2));
const REQUESTS = Number(process.env.SCALE_REQUESTS ?? 6_000);
const CONCURRENCY = Number(process.env.SCALE_CONCURRENCY ?? 100);
/** Niceness of the hosts (0: none), so that they do not starve the shared services on 2 cores. */
const HOST_NICE = Number(process.env.SCALE_HOST_NICE ?? 10);
const LEASE_SECONDS = Number(process.env.SCALE_LEASE_SECONDS ?? 6);
const HOST_ROOT = process.env.SCALE_HOST_ROOT ? path.resolve(process.env.SCALE_HOST_ROOT) : undefined;
const LABEL = process.env.SCALE_LABEL ?? POOLER;
/** The stand-in's first audio byte comes this long after the SSML (a typical Azure first-chunk time). */
const SPEECH_LATENCY_MS = 200;
const ROLE = 'khipu_app';
/** Set once the teardown begins: PgBouncer's complaints about Postgres going away are expected then. */
let stopping = false;

async function createRole(adminUrl: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const limit = POOLER === 'direct' ? CONNECTION_LIMIT : -1; // through PgBouncer its pool is the bound
    await admin.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${ROLE}' CONNECTION LIMIT ${limit}`);
    await admin.query(`GRANT USAGE ON SCHEMA public TO ${ROLE}`);
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${ROLE}`);
    await admin.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${ROLE}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.username = ROLE;
  url.password = ROLE;
  return url.toString();
}

async function startPooler(roleUrl: string): Promise<RunningPgBouncer | undefined> {
  if (POOLER === 'direct') return undefined;
  return startPgBouncer({
    serverUrl: roleUrl, // PgBouncer logs in to Postgres as the app's role, with its password
    poolMode: 'transaction',
    defaultPoolSize: POOL_SIZE,
    maxClientConn: INSTANCES * POOL_MAX + 100,
    onLog: (line) => {
      if (!stopping && /error|fatal|warning/i.test(line)) console.log(line);
    },
  });
}

async function main() {
  let refused = 0;
  let tooMany = 0;
  const stack = await startBenchStack({
    toneSeconds: 1,
    durable: false,
    hostRoot: HOST_ROOT,
    postgresSettings: { max_connections: String(MAX_CONNECTIONS) },
    onPostgresLog: (line) => {
      if (line.includes('too many connections for role')) refused++;
      if (line.includes('sorry, too many clients already')) tooMany++;
    },
  });
  let pooler: RunningPgBouncer | undefined;
  let watcher: ReturnType<typeof watchConnections> | undefined;
  try {
    const roleUrl = await createRole(stack.pg.adminUrl);
    pooler = await startPooler(roleUrl);
    const databaseUrl = pooler ? pooler.urlFor(new URL(roleUrl).pathname.slice(1)) : roleUrl;
    const version = HOST_ROOT ? `host from ${HOST_ROOT}` : 'this checkout';
    console.log(
      `${POOLER}: up to ${INSTANCES} instances × DATABASE_POOL_MAX=${POOL_MAX}, Postgres max_connections=${MAX_CONNECTIONS}, ` +
        (pooler
          ? `PgBouncer ${pooler.version} transaction mode, default_pool_size=${POOL_SIZE}`
          : `role CONNECTION LIMIT ${CONNECTION_LIMIT}`) +
        `; ${os.cpus().length} cores, ${Math.round(os.freemem() / MIB)} MiB free (${version})`,
    );

    const fleet = await startFleet(stack, {
      target: INSTANCES,
      batch: BATCH,
      minFreeBytes: MIN_FREE_BYTES,
      nice: HOST_NICE,
      env: {
        DATABASE_URL: databaseUrl,
        DATABASE_POOL_MAX: String(POOL_MAX),
        CACHE_LINE_LEASE_SECONDS: String(LEASE_SECONDS),
      },
    });
    const { instances } = fleet;
    if (instances.length < 2) throw new Error(`only ${instances.length} instance(s) started: ${fleet.stoppedBecause}`);
    const ports = instances.map((instance) => instance.port);
    const pids = () => instances.map((instance) => instance.child.pid);
    const idleRss = rssSpread(instances);

    stack.standIn.behave({ kind: 'audio', delayMs: SPEECH_LATENCY_MS });
    await warmUp(stack, ports);
    watcher = watchConnections({ adminUrl: stack.pg.adminUrl, role: ROLE, poolerAdminUrl: pooler?.adminUrl, pids });
    const refusedBefore = refused;
    const tooManyBefore = tooMany;
    console.log(`mixed load: ${REQUESTS} requests over ${instances.length} instances, ${CONCURRENCY} connections`);
    const load = await driveMixedLoad(stack, ports, { requests: REQUESTS, connections: CONCURRENCY, run: 'load' });
    const peaks = watcher.takePeaks();
    const loadRss = rssSpread(instances);
    const non200 = load.requests - (load.statuses['200'] ?? 0);
    const loadRow = {
      instances: instances.length,
      connections: load.connections,
      seconds: load.seconds,
      requests: load.requests,
      requests_per_s: Math.round(load.requests / load.seconds),
      statuses: JSON.stringify(load.statuses),
      cache_statuses: JSON.stringify(load.cache),
      errors: non200 + load.errors + load.timeouts,
      socket_errors: load.errors,
      timeouts: load.timeouts,
      new_lines: load.newLines,
      syntheses: load.syntheses,
      syntheses_per_new_line: +(load.syntheses / Math.max(1, load.newLines)).toFixed(3),
      lines_synthesized_twice: load.linesSynthesizedTwice,
      cached_lines_synthesized_again: load.unexpectedSyntheses,
      p50_ms: Math.round(percentile(load.latencies, 0.5)),
      p99_ms: Math.round(percentile(load.latencies, 0.99)),
      lease_takeovers_logged: instances.reduce(
        (sum, instance) => sum + instance.leaseLog.filter((line) => line.includes('took over the lease')).length,
        0,
      ),
    };
    console.table(loadRow);
    const connectionRow = {
      max_connections: MAX_CONNECTIONS,
      server_backends_peak: peaks.allBackends,
      app_role_backends_peak: peaks.roleBackends,
      pgbouncer_default_pool_size: pooler ? POOL_SIZE : '-',
      pgbouncer_server_connections_peak: pooler ? peaks.poolerServers : '-',
      pgbouncer_client_connections_peak: pooler ? peaks.poolerClients : '-',
      pgbouncer_clients_waiting_peak: pooler ? peaks.poolerWaiting : '-',
      instances_x_pool_max: instances.length * POOL_MAX,
      refused_by_role_limit: refused - refusedBefore,
      refused_too_many_clients: tooMany - tooManyBefore,
      samples: peaks.samples,
    };
    console.log('server-side connections during the load (sampled every 50 ms):');
    console.table(connectionRow);
    await watcher.stop();
    watcher = undefined;

    const [a, b] = [instances[0]!, instances.at(-1)!];
    console.log(`takeover: instance ${a.index} frozen 1 s into a 3 s synthesis, the same line asked of ${b.index}`);
    let takeover: Takeover | { error: string };
    try {
      takeover = await measureTakeover(stack, a, b, LEASE_SECONDS);
    } catch (error) {
      takeover = { error: (error as Error).message };
    }
    console.table(takeover);

    const t = 'error' in takeover ? undefined : takeover;
    const checks = {
      instances_target_or_memory_bound: instances.length === INSTANCES || fleet.memoryBound,
      zero_errors: loadRow.errors === 0 && load.requests === REQUESTS,
      one_synthesis_per_new_line:
        load.syntheses === load.newLines && load.linesSynthesizedTwice === 0 && load.unexpectedSyntheses === 0,
      server_backends_within_max_connections:
        peaks.allBackends <= MAX_CONNECTIONS && refused + tooMany === 0 && peaks.samples > 0,
      within_pool_or_role_limit: pooler ? peaks.poolerServers <= POOL_SIZE : peaks.roleBackends <= CONNECTION_LIMIT,
      takeover_within_lease_plus_one_synthesis: t?.within_bound === true && t.b_cache === 'MISS',
      takeover_late_write_refused:
        t !== undefined && t.a_status === 200 && t.rows_for_line === 1 && t.a_logged_lost_lease,
      takeover_two_syntheses: t?.syntheses === 2,
    };
    console.table(checks);
    const hostErrors = errorKinds(fleet.hostErrorLines);
    if (fleet.hostErrorLines.length > 0) {
      console.log(`host log lines mentioning errors: ${fleet.hostErrorLines.length}; by kind:`);
      console.table(hostErrors);
    }
    const pass = Object.values(checks).every(Boolean);
    await saveResult(`scale-${LABEL}`, {
      pooler: POOLER,
      pgbouncer_version: pooler?.version ?? '-',
      version,
      instances_target: INSTANCES,
      instances_reached: instances.length,
      stopped_because: fleet.stoppedBecause ?? 'reached the target',
      instances_start_seconds: fleet.startSeconds,
      database_pool_max: POOL_MAX,
      pgbouncer_max_client_conn: pooler ? INSTANCES * POOL_MAX + 100 : '-',
      role_connection_limit: pooler ? '-' : CONNECTION_LIMIT,
      speech_latency_ms: SPEECH_LATENCY_MS,
      rss_idle_total_mib: Math.round(fleet.rssBytes / MIB),
      rss_idle_per_instance_mib: JSON.stringify(idleRss),
      rss_after_load_per_instance_mib: JSON.stringify(loadRss),
      rss_peak_total_mib: Math.round(peaks.rssBytes / MIB),
      free_mib_after_start: Math.round(fleet.freeBytesAfter / MIB),
      free_mib_min_during_load: Math.round(peaks.minFreeBytes / MIB),
      ...loadRow,
      ...connectionRow,
      ...Object.fromEntries(Object.entries(takeover).map(([k, v]) => [`takeover_${k}`, v])),
      host_nice: HOST_NICE,
      host_error_log_lines: fleet.hostErrorLines.length,
      host_error_kinds: JSON.stringify(hostErrors),
      checks: JSON.stringify(checks),
      pass,
    });
    process.exitCode = pass ? 0 : 1;
  } finally {
    stopping = true;
    await watcher?.stop();
    await stack.stop().catch((error: unknown) => console.error('stopping the stack:', error));
    await pooler?.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
