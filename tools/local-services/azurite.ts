import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';

export interface AzuriteOptions {
  /** Persist blobs in this folder; in memory when absent. */
  location?: string;
  /** Blob port; 0 lets the OS choose. */
  port?: number;
  onLog?: (line: string) => void;
  startTimeoutMs?: number;
  /**
   * More storage accounts beside the development one (Azurite's `AZURITE_ACCOUNTS`): a project's own account, in
   * tests and on a laptop.
   */
  extraAccounts?: readonly StorageAccount[];
}

export interface StorageAccount {
  name: string;
  /** Its shared key (base64). */
  key: string;
}

export interface RunningAzurite {
  port: number;
  blobEndpoint: string;
  /** Connection string for the well-known development account. */
  connectionString: string;
  /** The extra accounts, each with its blob service URL (`http://127.0.0.1:{port}/{name}`). */
  extraAccounts: (StorageAccount & { serviceUrl: string })[];
  pid: number;
  stop(): Promise<void>;
}

// Azurite's published development account (https://learn.microsoft.com/azure/storage/common/storage-use-azurite).
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/**
 * Starts Azurite's Blob service as a child process (its own binary, not an `npx` wrapper, so
 * stopping it stops the server). `--skipApiVersionCheck` because @azure/storage-blob often
 * speaks a newer REST version than the newest Azurite release accepts.
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<RunningAzurite> {
  const require = createRequire(__filename);
  const main = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist/src/blob/main.js');
  const log = options.onLog ?? (() => {});
  const args = [
    main,
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    String(options.port ?? 0),
    '--skipApiVersionCheck',
    '--disableTelemetry',
    '--loose',
    // No access log line per request (it costs Azurite, and whoever reads its output, CPU).
    '--silent',
  ];
  if (options.location) {
    await mkdir(options.location, { recursive: true });
    args.push('--location', path.resolve(options.location));
  } else {
    args.push('--inMemoryPersistence', '--extentMemoryLimit', '2048');
  }

  const extra = options.extraAccounts ?? [];
  // AZURITE_ACCOUNTS replaces the development account unless it is listed too.
  const accounts = [{ name: ACCOUNT, key: ACCOUNT_KEY }, ...extra].map((a) => `${a.name}:${a.key}`).join(';');
  const child = spawn(process.execPath, args, {
    env: extra.length > 0 ? { ...process.env, AZURITE_ACCOUNTS: accounts } : process.env,
    // Without --location Azurite writes its metadata files into the working directory.
    cwd: options.location ? path.resolve(options.location) : undefined,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // If this process ends without calling stop() (Ctrl-C, a crash), take Azurite with it.
  const stopOnExit = () => child.kill('SIGTERM');
  process.once('exit', stopOnExit);
  child.once('exit', () => process.removeListener('exit', stopOnExit));
  readline.createInterface({ input: child.stderr }).on('line', (line) => log(`[stderr] ${line}`));
  const lines = readline.createInterface({ input: child.stdout });

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('Azurite did not report a listening port in time'));
    }, options.startTimeoutMs ?? 20_000);
    lines.on('line', (line) => {
      log(line);
      const match = /successfully listens on https?:\/\/[^:]+:(\d+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited during start-up (code ${code}, signal ${signal})`));
    });
  });

  const blobEndpoint = `http://127.0.0.1:${port}/${ACCOUNT}`;
  return {
    port,
    blobEndpoint,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};` +
      `BlobEndpoint=${blobEndpoint};`,
    extraAccounts: extra.map((a) => ({ ...a, serviceUrl: `http://127.0.0.1:${port}/${a.name}` })),
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
