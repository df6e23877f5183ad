// npm start: the whole service on a laptop, in the foreground until Ctrl-C.
//
// - Postgres: DATABASE_URL if set, else an embedded PostgreSQL persisting under .local/postgres;
// - Blob: AZURE_STORAGE_CONNECTION_STRING if set, else Azurite persisting under .local/azurite;
// - migrations; a demo tenant, user and project (created once);
// - the functions: `func start` when Core Tools is on the PATH, else the built-in local host
//   (`npm run serve`); the cleanup timer runs on its schedule in both;
// - without an Azure key or AZURE_SPEECH_HOST, an offline voice (TTS_PROVIDER=local);
// - prints the base URL, a development token, the demo project id and the guide's Step 7 curl,
//   and writes them to .local/dev-session.json.
// - `--upstream <url>` (or KHIPU_CLOUD_API_URL): the built-in host sends every path no function
//   serves there (the Khipu Cloud API), so the web app's one base URL reaches both.
// - `--host <address>` (or LOCAL_HOST_ADDRESS): where the built-in host listens; 127.0.0.1 (this
//   machine only) unless told otherwise.
// Settings: the environment, then local.settings.json's Values. KHIPU_LOCAL_DIR moves .local.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { ConnectRetry } from '../src/adapters/postgres/connect-retry.ts';
import { Database } from '../src/adapters/postgres/prisma-client.ts';
import { StallGuard } from '../src/adapters/stall-guard.ts';
import { parseConfig } from '../src/config.ts';
import { applyMigrations } from './db/migrations.ts';
import { signAccessToken } from './dev/access-token.ts';
import { corsOriginsFor, describeCorsPolicy, parseCorsPolicy, type CorsOrigins } from './local-host/cors.ts';
import { LISTEN_ADDRESS_SETTING, localUrlHost, readListenAddress } from './local-host/listen-address.ts';
import { applyLocalSettings, readLocalSettings } from './local-host/local-settings.ts';
import { readUpstreamUrl, UPSTREAM_SETTING } from './local-host/upstream-proxy.ts';
import { startAzurite, type RunningAzurite } from './local-services/azurite.ts';
import {
  firstClosedAncestor,
  startEmbeddedPostgres,
  type RunningPostgres,
} from './local-services/embedded-postgres.ts';
import {
  ensureDatabaseExists,
  isUnreachable,
  quoteIdentifier,
  withPgClient,
} from './local-services/postgres-server.ts';
import { projectRoot } from './project-root.ts';
import { describeError } from '../src/errors.ts';

// Fixed ids, so the demo rows are created once and the printed project id never changes.
const DEMO = {
  tenantId: '00000000-0000-4000-8000-00000000d001',
  userId: '00000000-0000-4000-8000-00000000d002',
  projectId: '00000000-0000-4000-8000-00000000d003',
};

const say = (line: string) => console.log(`[start] ${line}`);

async function main(): Promise<void> {
  const root = projectRoot();
  const localDir = path.resolve(process.env.KHIPU_LOCAL_DIR ?? path.join(root, '.local'));
  await mkdir(localDir, { recursive: true });
  const localSettings = await readLocalSettings(path.join(root, 'local.settings.json'));
  applyLocalSettings(localSettings.values);

  let postgres: RunningPostgres | undefined;
  let azurite: RunningAzurite | undefined;
  let host: ChildProcess | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    if (host && host.exitCode === null && host.signalCode === null) {
      const exited = new Promise((resolve) => host!.once('exit', resolve));
      host.kill('SIGINT');
      await exited;
    }
    await azurite?.stop();
    await postgres?.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    // Checked now, not by the host after the database is up. The host gets the upstream through the
    // environment, --host as its own flag, and reads the same CORS settings itself.
    const { values: args } = parseArgs({ options: { upstream: { type: 'string' }, host: { type: 'string' } } });
    const upstreamFrom = args.upstream !== undefined ? '--upstream' : UPSTREAM_SETTING;
    const upstream = readUpstreamUrl(args.upstream ?? process.env[UPSTREAM_SETTING], upstreamFrom);
    if (args.upstream !== undefined) process.env[UPSTREAM_SETTING] = args.upstream;
    const address = readListenAddress(
      args.host ?? process.env[LISTEN_ADDRESS_SETTING],
      args.host !== undefined ? '--host' : LISTEN_ADDRESS_SETTING,
    );
    const cors = corsOriginsFor(localSettings);
    const corsPolicy = parseCorsPolicy(cors.origins, localSettings.corsCredentials, cors.source);
    if (!process.env.DATABASE_URL) {
      postgres = await startEmbeddedPostgres({ dataDir: await postgresDataDir(localDir), persistent: true });
      await withPgClient(postgres.adminUrl, async (client) => {
        const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = 'khipu'");
        if (!rowCount) await client.query(`CREATE DATABASE ${quoteIdentifier('khipu')}`);
      });
      process.env.DATABASE_URL = postgres.urlFor('khipu');
      say(`PostgreSQL (embedded) on port ${postgres.port}`);
    } else {
      await useDatabaseAt(process.env.DATABASE_URL, localSettings.values.DATABASE_URL === process.env.DATABASE_URL);
    }
    const storage = process.env.AZURE_STORAGE_CONNECTION_STRING;
    const devStorage = storage !== undefined && /^\s*UseDevelopmentStorage=true\s*$/i.test(storage);
    if (
      (!storage && !process.env.AZURE_STORAGE_ACCOUNT_NAME) ||
      (devStorage && !(await isListening(DEV_STORAGE_BLOB_PORT)))
    ) {
      // None configured: our own Azurite. `UseDevelopmentStorage=true` (local.settings.example.json)
      // with no emulator running: the same, on the port that setting means.
      azurite = await startAzurite({
        location: path.join(localDir, 'azurite'),
        port: devStorage ? DEV_STORAGE_BLOB_PORT : 0,
      });
      if (!devStorage) process.env.AZURE_STORAGE_CONNECTION_STRING = azurite.connectionString;
      say(`Azurite (blobs in ${path.join(localDir, 'azurite')}) on port ${azurite.port}`);
    } else {
      say('Blob Storage: AZURE_STORAGE_* settings');
    }
    if (!process.env.JWT_SECRET_KEY) process.env.JWT_SECRET_KEY = await devSecret(localDir);
    if (!process.env.TTS_PROVIDER && !process.env.AZURE_SPEECH_KEY && !process.env.AZURE_SPEECH_HOST) {
      process.env.TTS_PROVIDER = 'local';
    }
    // A laptop's project accounts may be Azurite (http, loopback): development's setting, never a deployment's.
    process.env.PROJECT_STORAGE_ALLOW_ANY_ENDPOINT ||= 'true';
    const config = parseConfig();

    const applied = await applyMigrations(config.databaseUrl);
    say(applied.length > 0 ? `applied migrations: ${applied.join(', ')}` : 'database schema up to date');
    await createDemoAccount(config.databaseUrl).catch((error: unknown) => {
      // A Khipu Cloud API database has more required columns than the demo rows fill in.
      say(
        `could not create the demo account (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); use a project of yours and \`npm run token -- --user <id>\``,
      );
    });
    if (config.speech.provider === 'local') {
      say('No Azure key or AZURE_SPEECH_HOST: using the OFFLINE development voice (TTS_PROVIDER=local, eSpeak NG).');
      say('Set AZURE_SPEECH_KEY and AZURE_SPEECH_REGION (or a project key) to hear Azure voices.');
    }

    say(`browser origins allowed: ${describeCorsPolicy(corsPolicy, cors.source)}`);
    // The flag goes to the built-in host as a flag, so that its warning names what was typed.
    const started = startFunctionsHost(root, config.port, cors, args.host !== undefined ? ['--host', args.host] : []);
    host = started.process;
    await waitForListening(host);
    // Core Tools listens on every interface; the built-in host where it was told (127.0.0.1 by default).
    const baseUrl = `http://${localUrlHost(started.builtIn ? address : '0.0.0.0')}:${config.port}/api`;
    const otherPaths = !upstream
      ? ''
      : started.builtIn
        ? `\n  Other paths → ${upstream.href.replace(/\/$/, '')} (${upstreamFrom})`
        : `\n  Other paths: 404 (func start does not proxy; ${upstreamFrom} is for the built-in host)`;
    const token = await signAccessToken(config.jwt, { userId: DEMO.userId, email: 'demo@khipu.local', hours: 8 });
    await writeFile(
      path.join(localDir, 'dev-session.json'),
      `${JSON.stringify({ baseUrl, token, projectId: DEMO.projectId }, null, 2)}\n`,
      { mode: 0o600 },
    );
    console.log(`
Khipu audition cache is running.

  Base URL:   ${baseUrl}${otherPaths}
  Project id: ${DEMO.projectId}${postgres ? `\n  Database:   ${config.databaseUrl}` : ''}${azurite ? `\n  Blob:       ${azurite.connectionString}` : ''}
  Token (8 h, for the demo user ${DEMO.userId}):
    ${token}

The deployment guide's Step 7, ready to paste (run it twice: MISS, then HIT-L2):

curl -X POST "${baseUrl}/v1/projects/${DEMO.projectId}/characters/audition" \\
  -H "Authorization: Bearer ${token}" \\
  -H "Content-Type: application/json" \\
  -d '{
    "voice": "es-AR-ElenaNeural",
    "text": "Hola, este es un test del cache",
    "style": "cheerful",
    "rate_pct": 0,
    "pitch_pct": 0
  }' \\
  --output test_audio.mp3 -v

The same values are in ${path.join(localDir, 'dev-session.json')}. Ctrl-C stops everything.
`);
    host.once('exit', (code) => {
      if (!stopping) {
        say(`the functions host exited (${code}); stopping`);
        void stop(code ?? 1);
      }
    });
  } catch (error) {
    console.error(describeError(error));
    await stop(1);
  }
}

/** The Blob port `UseDevelopmentStorage=true` means. */
const DEV_STORAGE_BLOB_PORT = 10_000;

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * A configured DATABASE_URL: its database is created when the server has none by that name
 * (local.settings.example.json names `khipu_cloud`), and a server that does not answer is
 * one line saying what to do.
 */
async function useDatabaseAt(url: string, fromFile: boolean): Promise<void> {
  const where = new URL(url);
  const name = decodeURIComponent(where.pathname.slice(1));
  try {
    if (await ensureDatabaseExists(url)) say(`created database "${name}" on ${where.host}`);
  } catch (error) {
    if (isUnreachable(error)) {
      throw new Error(
        `No PostgreSQL answers at ${where.host} (DATABASE_URL${fromFile ? ' in local.settings.json' : ''}): start it, ` +
          `or remove DATABASE_URL${fromFile ? ' from local.settings.json' : ''} and npm start runs its own embedded PostgreSQL.`,
        { cause: error },
      );
    }
    throw new Error(`Cannot use the database at DATABASE_URL (${where.host}/${name}): ${describeError(error)}`, {
      cause: error,
    });
  }
  say(`PostgreSQL: DATABASE_URL (${where.host}/${name})`);
}

/**
 * `.local/postgres`, unless this runs as root in a folder other users cannot enter (a fresh
 * `mktemp -d` clone): PostgreSQL refuses to run as root and its unprivileged user could not
 * reach the data there. Then the cluster lives in /var/tmp (kept across runs and reboots),
 * one per project folder, and `.local/postgres` says where.
 */
async function postgresDataDir(localDir: string): Promise<string> {
  const inProject = path.join(localDir, 'postgres');
  if (process.getuid?.() !== 0 || !(await firstClosedAncestor(inProject))) {
    say(`PostgreSQL data in ${inProject}`);
    return inProject;
  }
  const elsewhere = path.join(
    '/var/tmp',
    `khipu-postgres-${createHash('sha256').update(localDir).digest('hex').slice(0, 12)}`,
    'postgres',
  );
  await writeFile(path.join(localDir, 'postgres-location.txt'), `${elsewhere}\n`);
  say(
    `running as root in a folder other users cannot enter: PostgreSQL data in ${elsewhere} (see .local/postgres-location.txt)`,
  );
  return elsewhere;
}

/** A development-only signing secret, kept under .local so tokens survive restarts. */
async function devSecret(localDir: string): Promise<string> {
  const file = path.join(localDir, 'dev-jwt-secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = randomBytes(32).toString('hex');
    await writeFile(file, `${secret}\n`, { mode: 0o600 });
    return secret;
  }
}

async function createDemoAccount(databaseUrl: string): Promise<void> {
  const db = Database.open(databaseUrl, {
    maxConnections: 1,
    connectRetry: new ConnectRetry(),
    stallGuard: new StallGuard('the database'),
  });
  const prisma = await db.client();
  try {
    if (await prisma.project.findUnique({ where: { id: DEMO.projectId }, select: { id: true } })) return;
    await prisma.tenant.upsert({
      where: { id: DEMO.tenantId },
      update: {},
      create: { id: DEMO.tenantId, name: 'Demo', subdomain: 'demo' },
    });
    await prisma.user.upsert({
      where: { id: DEMO.userId },
      update: {},
      create: { id: DEMO.userId, tenantId: DEMO.tenantId, email: 'demo@khipu.local' },
    });
    await prisma.project.upsert({
      where: { id: DEMO.projectId },
      update: {},
      create: {
        id: DEMO.projectId,
        tenantId: DEMO.tenantId,
        ownerId: DEMO.userId,
        title: 'Demo project',
        settings: {},
      },
    });
  } finally {
    await db.close();
  }
}

/**
 * `func start` when Core Tools is installed (it reads local.settings.json itself; without Host.CORS
 * there it is given the same origins as the built-in host), else the built-in host, which reads
 * the same settings.
 */
function startFunctionsHost(
  root: string,
  port: number,
  cors: CorsOrigins,
  serveArgs: string[],
): { process: ChildProcess; builtIn: boolean } {
  const hasFunc = spawnSync('func', ['--version'], { stdio: 'ignore' }).status === 0;
  const corsArgs = cors.source === 'Host.CORS' ? [] : ['--cors', cors.origins.join(',')];
  const [command, args] = hasFunc
    ? ['func', ['start', '--port', String(port), ...corsArgs]]
    : [process.execPath, [path.join(root, 'dist/tools/serve.js'), ...serveArgs]];
  if (hasFunc) {
    say('functions: func start (Azure Functions Core Tools)');
    // Core Tools binds 0.0.0.0 and has no option for one address (its StartHostAction).
    say(
      `WARNING: func start listens on every network interface, whatever --host or ${LISTEN_ADDRESS_SETTING} say: ` +
        'anyone on your network can call the functions and /admin/functions/*.',
    );
  } else {
    say('functions: built-in local host (Core Tools not found)');
  }
  return { process: spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] }), builtIn: !hasFunc };
}

function waitForListening(host: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the functions host did not start in time')), 120_000);
    readline.createInterface({ input: host.stdout! }).on('line', (line) => {
      console.log(line);
      // The built-in host says "Listening on"; Core Tools lists "Functions:" then the routes.
      if (/Listening on|Host lock lease acquired|Worker process started/.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    host.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the functions host exited during start-up (${code})`));
    });
  });
}

void main();
