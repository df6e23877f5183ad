import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { ConnectRetry } from '../../src/adapters/postgres/connect-retry.ts';
import { Database } from '../../src/adapters/postgres/prisma-client.ts';
import { StallGuard } from '../../src/adapters/stall-guard.ts';
import { applyMigrations } from '../db/migrations.ts';
import { signAccessToken } from '../dev/access-token.ts';
import { startAzurite, type RunningAzurite } from '../local-services/azurite.ts';
import { startEmbeddedPostgres, type RunningPostgres } from '../local-services/embedded-postgres.ts';
import { findFreePort } from '../local-services/free-port.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../local-services/tone-mp3.ts';
import { projectRoot } from '../project-root.ts';

const SECRET = 'bench-secret-0123456789abcdef';

/** Everything a load run needs: real Postgres, Azurite, the speech stand-in, one tenant. */
export interface BenchStack {
  root: string;
  pg: RunningPostgres;
  azurite: RunningAzurite;
  standIn: SpeechStandIn;
  /** The MP3 the stand-in answers with. */
  audio: Buffer;
  tenantId: string;
  projectId: string;
  token: string;
  /** Another tenant with a user, a project (with its own key) and an access token. */
  addTenant(name: string): Promise<{ tenantId: string; projectId: string; token: string }>;
  /** Starts `node dist/tools/serve.js` on these services (what `npm run serve` runs); `extraEnv` wins over the stack's settings. */
  startHost(
    extraEnv?: NodeJS.ProcessEnv,
    onLine?: (line: string) => void,
    hostArgs?: string[],
  ): Promise<{ child: ChildProcess; port: number }>;
  stop(): Promise<void>;
}

export interface BenchStackOptions {
  toneSeconds: number;
  durable: boolean;
  /** Checkout whose `dist/tools/serve.js` the hosts run (default: this one), to compare another version on the same stack. */
  hostRoot?: string;
  onPostgresLog?: (line: string) => void;
  /** Extra PostgreSQL settings (`-c name=value`), e.g. `{ max_connections: '50' }`. */
  postgresSettings?: Record<string, string>;
}

export async function startBenchStack(options: BenchStackOptions): Promise<BenchStack> {
  const root = options.hostRoot ?? projectRoot();
  const work = await mkdtemp(path.join(os.tmpdir(), 'khipu-pg-bench-'));
  const pg = await startEmbeddedPostgres({
    dataDir: path.join(work, 'data'),
    persistent: false,
    durable: options.durable,
    onLog: options.onPostgresLog,
    settings: options.postgresSettings,
  });
  const azurite = await startAzurite();
  const audio = await encodeToneMp3(options.toneSeconds);
  const standIn = await startSpeechStandIn(audio);
  const hosts: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(hosts.map((child) => stopHost(child)));
    await standIn.stop();
    await azurite.stop();
    await pg.stop();
    await rm(work, { recursive: true, force: true });
  };
  try {
    await applyMigrations(pg.adminUrl);
    const addTenant = async (name: string) => {
      const db = Database.open(pg.adminUrl, {
        connectRetry: new ConnectRetry(),
        stallGuard: new StallGuard('the database'),
      });
      const prisma = await db.client();
      try {
        const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
        const tenant = await prisma.tenant.create({ data: { name, subdomain: slug } });
        const user = await prisma.user.create({ data: { tenantId: tenant.id, email: `${slug}@khipu.local` } });
        const project = await prisma.project.create({
          data: {
            tenantId: tenant.id,
            ownerId: user.id,
            title: name,
            settings: { azure_tts_key: `${slug}-key`, azure_tts_region: 'eastus' },
          },
        });
        const token = await signAccessToken({ secretKey: SECRET, algorithm: 'HS256' }, { userId: user.id, hours: 2 });
        return { tenantId: tenant.id, projectId: project.id, token };
      } finally {
        await db.close();
      }
    };
    const { tenantId, projectId, token } = await addTenant('Bench');
    const env = {
      DATABASE_URL: pg.adminUrl,
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      AZURE_SPEECH_HOST: standIn.host,
      JWT_SECRET_KEY: SECRET,
      TTS_PROVIDER: 'azure',
    };
    return {
      root,
      pg,
      azurite,
      standIn,
      audio,
      tenantId,
      projectId,
      token,
      addTenant,
      async startHost(extraEnv = {}, onLine = () => {}, hostArgs = []) {
        const port = await findFreePort();
        // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the host under load.
        const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
        const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'dist/tools/serve.js'), ...hostArgs], {
          cwd: work, // no local.settings.json here: the environment is the whole configuration
          env: { ...process.env, ...env, ...extraEnv, PORT: String(port) },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        hosts.push(child);
        await new Promise<void>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`host exited (${code})`)));
          readline.createInterface({ input: child.stdout }).on('line', (line) => {
            onLine(line);
            if (line.includes('Listening on')) resolve();
          });
        });
        return { child, port };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export async function stopHost(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGCONT'); // a frozen host would not see SIGINT
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** The web client's request shape: line `i` of a bench's lines, as an audition body. */
export function auditionBody(i: number): string {
  return JSON.stringify({
    voice: { id: 'es-PE-CamilaNeural', engine: 'azure', locale: 'es-PE', gender: 'F', styles: ['cheerful', 'sad'] },
    text: `Línea de prueba número ${i}, con algo de texto para que suene a audición.`,
    style: 'cheerful',
    styledegree: 1.5,
    rate_pct: -10,
    pitch_pct: 5,
    page: 'casting',
  });
}

export function machine(): string {
  return `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;
}

/** Prints a result table and keeps it as bench/results/<name>.json; `unprinted` keys are kept but not in the table. */
export async function saveResult(
  name: string,
  result: Record<string, unknown>,
  unprinted: string[] = [],
): Promise<void> {
  const full = { ...result, machine: machine(), date: new Date().toISOString() };
  console.table(Object.fromEntries(Object.entries(full).filter(([key]) => !unprinted.includes(key))));
  const out = path.join(projectRoot(), 'bench/results');
  await mkdir(out, { recursive: true });
  await writeFile(path.join(out, `${name}.json`), `${JSON.stringify(full, null, 2)}\n`);
}
