import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseBuffer } from 'music-metadata';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { withPgClient } from '../../tools/local-services/postgres-server.ts';
import { UPSTREAM_SETTING } from '../../tools/local-host/upstream-proxy.ts';
import { root } from '../support/repo.ts';
import { GUIDE_BODY } from '../support/auditions.ts';

/** An IPv4 address of this machine that is not loopback (none on a machine with loopback only). */
const networkAddress = Object.values(os.networkInterfaces())
  .flatMap((list) => list ?? [])
  .find((a) => !a.internal && a.family === 'IPv4')?.address;

/** Whether a TCP connection to host:port is accepted (`connected`), or the error code that refused it. */
function connectTo(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => (socket.destroy(), resolve('connected')));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** Every process still in a process group (a terminal's Ctrl-C goes to the whole group). */
function processesInGroup(pgid: number): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.trim().split(/\s+/)[1] === String(pgid));
}

describe('npm start (a newcomer’s whole service, nothing pre-started)', () => {
  let localDir: string;
  let start: ChildProcess;
  let output = '';
  let session: { baseUrl: string; token: string; projectId: string };
  /** The Khipu Cloud API's place, given as `npm start -- --upstream <url>`: answers every path with its own. */
  let cloudApi: http.Server;
  let cloudApiUrl: string;
  const cloudApiSaw: string[] = [];

  beforeAll(async () => {
    cloudApi = http.createServer((req, res) => {
      cloudApiSaw.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"from":"cloud-api"}');
    });
    await new Promise<void>((resolve) => cloudApi.listen(0, '127.0.0.1', resolve));
    cloudApiUrl = `http://127.0.0.1:${(cloudApi.address() as AddressInfo).port}`;
    localDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-local-'));
    const port = await findFreePort();
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), KHIPU_LOCAL_DIR: localDir };
    for (const name of [
      'DATABASE_URL',
      'AZURE_STORAGE_CONNECTION_STRING',
      'AZURE_STORAGE_ACCOUNT_NAME',
      'AZURE_SPEECH_KEY',
      'AZURE_SPEECH_HOST',
      'TTS_PROVIDER',
      'JWT_SECRET_KEY',
      'LOCAL_HOST_ADDRESS',
      'LOCAL_HOST_CORS',
    ]) {
      delete env[name];
    }
    // What `npm start` runs after its build (npm test has built already). Its own process
    // group, like a terminal's foreground job.
    start = spawn(process.execPath, [path.join(root, 'dist/tools/start.js'), '--upstream', cloudApiUrl], {
      cwd: root,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    start.stdout!.on('data', (chunk) => (output += chunk));
    start.stderr!.on('data', (chunk) => (output += chunk));
    const sessionFile = path.join(localDir, 'dev-session.json');
    const deadline = Date.now() + 90_000;
    // Until the file is there and whole (it may be read while it is being written).
    const written = () =>
      readFile(sessionFile, 'utf8')
        .then((text) => JSON.parse(text) as typeof session)
        .catch(() => undefined);
    let found: typeof session | undefined;
    while (!(found = await written())) {
      if (start.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not come up:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    session = found;
  }, 120_000);

  afterAll(async () => {
    if (start.exitCode === null && start.signalCode === null) process.kill(-start.pid!, 'SIGKILL');
    await rm(localDir, { recursive: true, force: true });
    cloudApi.closeAllConnections();
    await new Promise((resolve) => cloudApi.close(resolve));
  });

  it('writes the base URL, a token and the demo project id, and prints them with the Step 7 curl', () => {
    expect(session.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api$/);
    expect(session.projectId).toMatch(/^[0-9a-f-]{36}$/);
    expect(output).toContain(session.token);
    expect(output).toContain(`curl -X POST "${session.baseUrl}/v1/projects/${session.projectId}/characters/audition"`);
    expect(output).toMatch(/OFFLINE development voice/);
  });

  it('listens on 127.0.0.1 only: says so, and this machine’s network address is refused', async () => {
    const { port } = new URL(session.baseUrl);
    if (networkAddress) expect(await connectTo(networkAddress, Number(port))).toBe('ECONNREFUSED');
    expect(output).toContain(`Listening on http://127.0.0.1:${port}/api (Ctrl-C to stop)`);
    expect(output).not.toMatch(/WARNING: (--host|LOCAL_HOST_ADDRESS)/);
  });

  it('answers the guide’s Step 7 twice: MISS, then HIT-L2, with real speech', async () => {
    const send = () =>
      fetch(`${session.baseUrl}/v1/projects/${session.projectId}/characters/audition`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${session.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(GUIDE_BODY),
      });
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache-status')).toBe('MISS');
    const audio = Buffer.from(await first.arrayBuffer());
    const { format } = await parseBuffer(audio, { mimeType: 'audio/mpeg' }, { duration: true });
    expect(format.duration).toBeGreaterThan(0.5);

    const second = await send();
    expect(second.headers.get('x-cache-status')).toBe('HIT-L2');
    expect(Buffer.from(await second.arrayBuffer()).equals(audio)).toBe(true);
  });

  it('lets the web app’s dev server (localhost:3000) call it: preflight, the voices route, the headers it reads', async () => {
    const url = `${session.baseUrl}/v1/projects/${session.projectId}/voices/es-AR-ElenaNeural/audition`;
    const preflight = await fetch(url, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://localhost:3000',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
    // khipu-web's axios call from the casting page.
    const audition = await fetch(url, {
      method: 'POST',
      headers: {
        Origin: 'http://localhost:3000',
        Accept: 'application/json, text/plain, */*',
        'Content-Type': 'application/json',
        Authorization: `Bearer ${session.token}`,
      },
      body: '{}',
    });
    expect(audition.status).toBe(200);
    expect(audition.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect(audition.headers.get('access-control-expose-headers')).toBe(
      'X-Cache-Status, X-Audio-Duration, ETag, Server-Timing, Content-Disposition',
    );
    expect(audition.headers.get('content-type')).toBe('audio/mpeg');
    expect((await audition.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    // Vite's default port is not khipu-web's: not allowed unless Host.CORS lists it.
    const vite = await fetch(`${session.baseUrl}/health`, { headers: { Origin: 'http://localhost:5173' } });
    expect(vite.headers.get('access-control-allow-origin')).toBeNull();
    expect(output).toContain('[start] browser origins allowed: http://localhost:3000 (the default');
    const stranger = await fetch(`${session.baseUrl}/health`, { headers: { Origin: 'https://evil.example' } });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('passes --upstream to the built-in host: both name it, and a path no function serves reaches it', async () => {
    expect(output).toContain(`Other paths → ${cloudApiUrl} (${UPSTREAM_SETTING})`); // the host's own start-up lines
    expect(output).toContain(`  Other paths → ${cloudApiUrl} (--upstream)`); // npm start's summary
    const me = await fetch(`${session.baseUrl}/v1/auth/me?x=1`, {
      headers: { Authorization: `Bearer ${session.token}` },
    });
    expect([me.status, await me.json()]).toEqual([200, { from: 'cloud-api' }]);
    expect(cloudApiSaw).toEqual(['GET /api/v1/auth/me?x=1']);
  });

  it('stops everything on Ctrl-C (SIGINT to the group) and leaves no process behind', async () => {
    const exited = new Promise<number | null>((resolve) => start.once('exit', (code) => resolve(code)));
    process.kill(-start.pid!, 'SIGINT');
    expect(await exited).toBe(0);
    await expect.poll(() => processesInGroup(start.pid!), { timeout: 15_000 }).toEqual([]);
    // The data stays for the next run (under .local, or where .local says when run as root).
    const moved = await readFile(path.join(localDir, 'postgres-location.txt'), 'utf8').then(
      (p) => p.trim(),
      () => undefined,
    );
    expect((await stat(path.join(moved ?? path.join(localDir, 'postgres'), 'PG_VERSION'))).isFile()).toBe(true);
    if (moved) await rm(path.dirname(moved), { recursive: true, force: true });
  });
});

describe('npm start with the example settings’ DATABASE_URL (copied local.settings.example.json)', () => {
  /** Runs dist/tools/start.js with these settings (and flags) until `until` shows in its output or it exits. */
  async function runStart(settings: NodeJS.ProcessEnv, until: RegExp, args: string[] = []) {
    const localDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-local-'));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(await findFreePort()),
      KHIPU_LOCAL_DIR: localDir,
      ...settings,
    };
    for (const name of [
      'AZURE_STORAGE_ACCOUNT_NAME',
      'AZURE_SPEECH_KEY',
      'AZURE_SPEECH_HOST',
      'TTS_PROVIDER',
      'JWT_SECRET_KEY',
      'LOCAL_HOST_ADDRESS',
      'LOCAL_HOST_CORS',
    ])
      delete env[name];
    const child = spawn(process.execPath, [path.join(root, 'dist/tools/start.js'), ...args], {
      cwd: root,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      const check = (chunk: string) => {
        output += chunk;
        if (until.test(output)) resolve();
      };
      child.stdout.on('data', check);
      child.stderr.on('data', check);
      void exited.then(() => resolve());
    });
    return {
      output: () => output,
      exited,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGINT');
        await exited;
        await rm(localDir, { recursive: true, force: true });
      },
    };
  }

  it('creates the database it names when the server has none by that name, and serves', async () => {
    const name = `${inject('databasePrefix')}_khipu_cloud`;
    const run = await runStart(
      {
        DATABASE_URL: inject('postgresUrlTemplate').replace('__database__', name),
        AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
      },
      /Khipu audition cache is running|exited/,
    );
    try {
      expect(run.output()).toContain(`created database "${name}"`);
      expect(run.output()).toContain('Khipu audition cache is running');
      // UseDevelopmentStorage=true with no emulator running: npm start brought one on its port.
      expect(run.output()).toMatch(/Azurite \(blobs in .*\) on port 10000/);
      const { rows } = await withPgClient(inject('postgresAdminUrl'), (client) =>
        client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]),
      );
      expect(rows).toHaveLength(1);
    } finally {
      await run.stop();
    }
  }, 120_000);

  it('passes --host to the built-in host: it listens there, warns, and the printed base URL reaches it', async () => {
    const run = await runStart(
      {
        DATABASE_URL: inject('postgresUrlTemplate').replace('__database__', `${inject('databasePrefix')}_khipu_host`),
        AZURE_STORAGE_CONNECTION_STRING: inject('azuriteConnectionString'),
      },
      /Khipu audition cache is running|exited/,
      ['--host', '0.0.0.0'],
    );
    try {
      const port = /Base URL: {3}http:\/\/127\.0\.0\.1:(\d+)\/api/.exec(run.output())?.[1];
      expect(port, run.output()).toBeDefined();
      if (networkAddress) expect((await fetch(`http://${networkAddress}:${port}/api/health`)).status).toBe(200);
      expect(run.output()).toContain(`Listening on http://0.0.0.0:${port}/api, every interface`);
      expect(run.output()).toContain('WARNING: --host 0.0.0.0: listening on every network interface.');
    } finally {
      await run.stop();
    }
  }, 120_000);

  it('says in one line what to do when no PostgreSQL answers there', async () => {
    const run = await runStart(
      { DATABASE_URL: 'postgresql://postgres:postgres@127.0.0.1:9/khipu_cloud' },
      /No PostgreSQL answers/,
    );
    try {
      expect(await run.exited).toBe(1);
      expect(run.output()).toContain(
        'No PostgreSQL answers at 127.0.0.1:9 (DATABASE_URL): start it, or remove DATABASE_URL and npm start runs its own embedded PostgreSQL.',
      );
    } finally {
      await run.stop();
    }
  }, 60_000);
});

describe('npm start --host with a value that is not an IP address', () => {
  it('stops at once with a message naming the flag, before starting anything', async () => {
    const localDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-local-'));
    try {
      const child = spawn(process.execPath, [path.join(root, 'dist/tools/start.js'), '--host', 'my-laptop.local'], {
        cwd: root,
        env: { ...process.env, KHIPU_LOCAL_DIR: localDir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(1);
      expect(output).toContain('--host must be an IP address to listen on');
      expect(output).not.toMatch(/PostgreSQL|Azurite/);
    } finally {
      await rm(localDir, { recursive: true, force: true });
    }
  });
});

describe('npm start --upstream with a value that is not an http(s) URL', () => {
  it('stops at once with a message naming the flag, before starting anything', async () => {
    const localDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-local-'));
    try {
      const child = spawn(process.execPath, [path.join(root, 'dist/tools/start.js'), '--upstream', 'ftp://files'], {
        cwd: root,
        env: { ...process.env, KHIPU_LOCAL_DIR: localDir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(1);
      expect(output).toContain('--upstream must be an http:// or https:// URL (got ftp: in "ftp://files")');
      expect(output).not.toMatch(/PostgreSQL|Azurite/);
    } finally {
      await rm(localDir, { recursive: true, force: true });
    }
  });
});
