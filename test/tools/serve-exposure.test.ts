import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { hostEnvironment } from '../support/serve-process.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';
import { root } from '../support/repo.ts';

/**
 * Who can reach `npm run serve`, and which web pages may read its answers: the local host has no
 * authentication of its own (`/admin/functions/*`) and proxies to services that trust localhost,
 * so it listens on loopback unless told otherwise, and answers CORS for the listed origins only.
 */

const WEB_ORIGIN = 'http://localhost:3000'; // khipu-web's dev server
const STRANGER = 'http://evil.example';

/**
 * An address of this machine that is not loopback, and the wildcard that covers it; none on a
 * machine with loopback only (then the tests rely on the address the host says it is bound to).
 */
function networkAddress(): { address: string; wildcard: string } | undefined {
  const all = Object.values(os.networkInterfaces()).flatMap((list) => list ?? []);
  const v4 = all.find((a) => !a.internal && a.family === 'IPv4');
  if (v4) return { address: v4.address, wildcard: '0.0.0.0' };
  const v6 = all.find((a) => !a.internal && a.family === 'IPv6' && !a.address.toLowerCase().startsWith('fe80'));
  return v6 && { address: v6.address, wildcard: '::' };
}
const external = networkAddress();
const urlHost = (address: string) => (net.isIPv6(address) ? `[${address}]` : address);

/** Whether a TCP connection to host:port is accepted (`connected`), or the error code that refused it. */
function connectTo(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => (socket.destroy(), resolve('connected')));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

let services: TestServices;
const hosts: ChildProcess[] = [];
const workDirs: string[] = [];

beforeAll(async () => {
  services = await createTestServices();
});

afterAll(async () => {
  for (const host of hosts) if (host.exitCode === null && host.signalCode === null) host.kill('SIGKILL');
  await services.dispose();
  for (const dir of workDirs) await rm(dir, { recursive: true, force: true });
});

/**
 * `node dist/tools/serve.js` (what `npm run serve` runs, as test/support/serve-process.ts starts it,
 * here with flags) on the test's services, in a folder holding `localSettings` as its
 * local.settings.json; nothing about the address or CORS in its environment.
 */
async function spawnServe(options: { localSettings?: object; args?: string[] }) {
  const port = await findFreePort();
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-serve-exposure-'));
  workDirs.push(workDir);
  if (options.localSettings)
    await writeFile(path.join(workDir, 'local.settings.json'), JSON.stringify(options.localSettings));
  const { LOCAL_HOST_ADDRESS: _a, LOCAL_HOST_CORS: _c, ...env } = hostEnvironment(services, { PORT: String(port) });
  const child = spawn(process.execPath, [path.join(root, 'dist/tools/serve.js'), ...(options.args ?? [])], {
    cwd: workDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  hosts.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { port, output: () => output, child, exited };
}

/** A host that has started: resolved once it prints "Listening on". */
async function serve(options: { localSettings?: object; args?: string[] } = {}) {
  const started = await spawnServe(options);
  await new Promise<void>((resolve, reject) => {
    const check = () => started.output().includes('Listening on') && resolve();
    started.child.stdout.on('data', check);
    void started.exited.then((code) => reject(new Error(`serve exited (${code}):\n${started.output()}`)));
  });
  return started;
}

/** serve.js's exit code and output when it refuses to start (`listening` if it started instead). */
async function serveExit(localSettings: object, args: string[] = []) {
  const started = await spawnServe({ localSettings, args });
  const code = await new Promise<number | null | 'listening'>((resolve) => {
    started.child.stdout.on('data', () => started.output().includes('Listening on') && resolve('listening'));
    void started.exited.then(resolve);
  });
  return { code, output: started.output() };
}

const preflight = (url: string, origin: string) =>
  fetch(url, {
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization,content-type',
    },
  });
/** Every Access-Control-* header of an answer. */
const corsOf = (response: Response) =>
  Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-')));

describe('npm run serve listens on 127.0.0.1 unless told otherwise', () => {
  it('by default: says so, answers on loopback, and refuses connections on this machine’s network address', async () => {
    const { port, output } = await serve();
    if (external) expect(await connectTo(external.address, port)).toBe('ECONNREFUSED');
    else console.log('no network interface but loopback here: checked the bound address only');
    expect((await fetch(`http://127.0.0.1:${port}/api/health`)).status).toBe(200);
    // The line is written from the socket's own address (server.address()), not from the setting.
    expect(output()).toContain(`Listening on http://127.0.0.1:${port}/api (Ctrl-C to stop)`);
    expect(output()).toContain(`health: [GET] http://127.0.0.1:${port}/api/health`);
    expect(output()).not.toMatch(/WARNING: (--host|LOCAL_HOST_ADDRESS)/);
  });

  it('with --host 0.0.0.0: reachable on the network address, with a warning naming what is exposed', async () => {
    const wildcard = external?.wildcard ?? '0.0.0.0';
    const { port, output } = await serve({
      args: ['--host', wildcard, '--upstream', 'http://localhost:8000'],
    });
    if (external) expect((await fetch(`http://${urlHost(external.address)}:${port}/api/health`)).status).toBe(200);
    expect(output()).toContain(
      `Listening on http://${urlHost(wildcard)}:${port}/api, every interface (Ctrl-C to stop)`,
    );
    expect(output()).toContain(
      `WARNING: --host ${wildcard}: listening on every network interface. Anyone who can reach this machine on port ${port} can:`,
    );
    expect(output()).toContain('POST /admin/functions/* (no authentication');
    expect(output()).toContain('reach http://localhost:8000 through the upstream proxy (KHIPU_CLOUD_API_URL)');
  });

  it('takes the address from LOCAL_HOST_ADDRESS in local.settings.json: there only, not on loopback', async () => {
    const address = external?.address ?? '0.0.0.0';
    const { port, output } = await serve({ localSettings: { Values: { LOCAL_HOST_ADDRESS: address } } });
    if (external) {
      expect((await fetch(`http://${urlHost(address)}:${port}/api/health`)).status).toBe(200);
      expect(await connectTo('127.0.0.1', port)).toBe('ECONNREFUSED');
    }
    expect(output()).toContain(`Listening on http://${urlHost(address)}:${port}/api`);
    expect(output()).toContain(`WARNING: LOCAL_HOST_ADDRESS ${address}: listening on`);
  });

  it('stops at start when the address is not an IP address, naming the flag or the setting', async () => {
    expect(await serveExit({}, ['--host', 'localhost'])).toEqual({
      code: 1,
      output:
        '--host must be an IP address to listen on: 127.0.0.1 (this machine only, the default), 0.0.0.0 (every interface) ' +
        'or one interface\'s address (got "localhost")\n',
    });
    const setting = await serveExit({ Values: { LOCAL_HOST_ADDRESS: 'my-laptop.local' } });
    expect(setting.code).toBe(1);
    expect(setting.output).toMatch(/^LOCAL_HOST_ADDRESS must be an IP address .* \(got "my-laptop\.local"\)\n$/);
  });
});

describe('npm run serve answers CORS for the configured origins only', () => {
  it('by default, khipu-web’s dev origin (http://localhost:3000), preflight included; any other origin gets no CORS header', async () => {
    const { port, output } = await serve();
    const audition = `http://127.0.0.1:${port}/api/v1/projects/${crypto.randomUUID()}/voices/es-PE-CamilaNeural/audition`;
    const web = await preflight(audition, WEB_ORIGIN);
    expect(web.status).toBe(204);
    expect(corsOf(web)).toEqual({
      'access-control-allow-origin': WEB_ORIGIN,
      'access-control-allow-methods': expect.stringContaining('POST'),
      'access-control-allow-headers': 'authorization,content-type',
      'access-control-max-age': '600',
    });
    const health = await fetch(`http://127.0.0.1:${port}/api/health`, { headers: { Origin: WEB_ORIGIN } });
    expect(health.headers.get('access-control-allow-origin')).toBe(WEB_ORIGIN);

    // A preflight from another origin is answered, with nothing that lets the browser go on.
    const stranger = await preflight(audition, STRANGER);
    expect([stranger.status, corsOf(stranger)]).toEqual([204, {}]);
    const strangerHealth = await fetch(`http://127.0.0.1:${port}/api/health`, { headers: { Origin: STRANGER } });
    expect([strangerHealth.status, corsOf(strangerHealth)]).toEqual([200, {}]);
    // Vite's default port is not khipu-web's: a page there is a stranger too.
    expect(corsOf(await preflight(audition, 'http://localhost:5173'))).toEqual({});
    expect(output()).toContain('Browser origins (CORS): http://localhost:3000 (the default');
  });

  it('with Host.CORSCredentials true: the listed origin with credentials, an unlisted one still nothing', async () => {
    const { port } = await serve({ localSettings: { Host: { CORS: WEB_ORIGIN, CORSCredentials: true } } });
    const health = `http://127.0.0.1:${port}/api/health`;
    const web = await fetch(health, { headers: { Origin: WEB_ORIGIN } });
    expect(corsOf(web)).toEqual({
      'access-control-allow-origin': WEB_ORIGIN,
      'access-control-allow-credentials': 'true',
    });
    expect(web.headers.get('vary')).toMatch(/\bOrigin\b/);
    expect(corsOf(await preflight(health, WEB_ORIGIN))).toMatchObject({
      'access-control-allow-origin': WEB_ORIGIN,
      'access-control-allow-credentials': 'true',
    });
    const stranger = await fetch(health, { headers: { Origin: STRANGER } });
    expect([stranger.status, corsOf(stranger)]).toEqual([200, {}]);
    const strangerPreflight = await preflight(health, STRANGER);
    expect([strangerPreflight.status, corsOf(strangerPreflight)]).toEqual([204, {}]);
    // Nor one that merely starts like the listed origin.
    expect(corsOf(await fetch(health, { headers: { Origin: 'http://localhost:3000.evil.example' } }))).toEqual({});
  });

  it('with Host.CORS "*" and no credentials: `*` for any origin, never the origin echoed, never credentials', async () => {
    const { port, output } = await serve({ localSettings: { Host: { CORS: '*' } } });
    const answer = await fetch(`http://127.0.0.1:${port}/api/health`, { headers: { Origin: STRANGER } });
    expect(corsOf(answer)).toEqual({ 'access-control-allow-origin': '*' });
    expect(output()).toContain(
      'Browser origins (CORS): * (any origin, without credentials) (Host.CORS in local.settings.json)',
    );
  });

  it('refuses Host.CORS "*" with Host.CORSCredentials true at start, as func start does', async () => {
    expect(await serveExit({ Host: { CORS: '*', CORSCredentials: true } })).toEqual({
      code: 1,
      output:
        'Host.CORS "*" with Host.CORSCredentials true: the CORS protocol does not allow any origin with credentials ' +
        '(func start refuses it too). List the origins instead, e.g. "http://localhost:3000".\n',
    });
  });

  it('refuses a Host.CORS entry that is no origin, which could never match what a browser sends', async () => {
    const slash = await serveExit({ Host: { CORS: 'http://localhost:3000/' } });
    expect(slash).toEqual({
      code: 1,
      output:
        'Host.CORS: "http://localhost:3000/" is not a browser origin: http(s)://host[:port], nothing after it ' +
        '(did you mean "http://localhost:3000"?)\n',
    });
    expect((await serveExit({ Host: { CORS: 'null' } })).code).toBe(1);
    expect((await serveExit({ Host: { CORS: `*,${WEB_ORIGIN}` } })).output).toContain(
      '"*" (any origin) must stand alone',
    );
  });
});
