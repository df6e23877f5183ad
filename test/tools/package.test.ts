import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { hostEnvironment, startServeProcess } from '../support/serve-process.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';
import { root } from '../support/repo.ts';

const MB = 1e6;

/**
 * `npm run package` (which `npm test` runs first) writes what is deployed: .deploy/app/ and the
 * same files as .deploy/app.zip. Here the zip is unpacked into an empty temporary folder, with
 * no node_modules anywhere above it, and served: if the bundle needed anything it does not
 * carry, it would fail to load or to answer.
 */
describe('the deployment package (npm run package)', () => {
  let unpacked: string;
  let files: Map<string, Uint8Array>;

  beforeAll(async () => {
    files = new Map(Object.entries(unzipSync(await readFile(path.join(root, '.deploy/app.zip')))));
    unpacked = await mkdtemp(path.join(os.tmpdir(), 'khipu-package-'));
    for (const [name, bytes] of files) {
      if (name.endsWith('/')) continue;
      await mkdir(path.dirname(path.join(unpacked, name)), { recursive: true });
      await writeFile(path.join(unpacked, name), bytes);
    }
  });
  afterAll(async () => {
    await rm(unpacked, { recursive: true, force: true });
  });

  it('holds host.json, a package.json whose main is the bundle, the bundle, its lazy and shared chunks and Prisma’s WebAssembly, and nothing else', async () => {
    const names = [...files.keys()].sort();
    expect(names).toContain('host.json');
    expect(names).toContain('package.json');
    const pkg = JSON.parse(Buffer.from(files.get('package.json')!).toString()) as Record<string, unknown>;
    expect(pkg.main).toBe('dist/main.js');
    expect(pkg.dependencies).toBeUndefined(); // nothing for the host to install
    expect(names).toContain('dist/main.js');
    expect(
      names.filter(
        (n) =>
          !/^(host\.json|package\.json|dist\/main\.js|dist\/(lazy|shared)\/[a-z-]+\.js|dist\/.*\.LEGAL\.txt)$/.test(n),
      ),
    ).toEqual(['dist/lazy/query-compiler.wasm']);
    // Prisma's query compiler, as a binary: the same bytes as the generated client's base64.
    const wasm = Buffer.from(files.get('dist/lazy/query-compiler.wasm')!);
    expect(wasm.subarray(0, 4).toString('latin1')).toBe('\0asm');
    const { wasm: base64 } = createRequire(path.join(root, 'package.json'))(
      '@prisma/client/runtime/query_compiler_small_bg.postgresql.wasm-base64.js',
    ) as {
      wasm: string;
    };
    expect(wasm.equals(Buffer.from(base64, 'base64'))).toBe(true);
    expect(names.some((n) => n.includes('node_modules'))).toBe(false);
    expect(Buffer.from(files.get('host.json')!).toString()).toBe(await readFile(path.join(root, 'host.json'), 'utf8'));
    // The zip is the staged folder, file for file.
    const staged = await listFiles(path.join(root, '.deploy/app'));
    expect(staged.sort()).toEqual(names);
    for (const name of names)
      expect(
        Buffer.compare(Buffer.from(files.get(name)!), await readFile(path.join(root, '.deploy/app', name))),
        name,
      ).toBe(0);
  });

  it('keeps Prisma’s client runtime out of the main bundle, and one copy each of what it shares with it (pg, sql)', () => {
    const text = (name: string) => Buffer.from(files.get(name)!).toString();
    const scripts = [...files.keys()].filter((n) => n.endsWith('.js')).sort();
    const holding = (marker: string) => scripts.filter((n) => text(n).includes(marker));
    // The runtime's client class, loaded at the first statement through Prisma: not at start.
    expect(holding('getPrismaClient')).toEqual(['dist/lazy/prisma.js']);
    expect(text('dist/main.js')).toContain('require("./lazy/prisma.js")');
    // node-postgres's pool and Prisma's Sql class: the driver adapter takes the app's pool, and the runtime the app's
    // statements, only as instances of its own copy.
    expect(holding('Cannot use a pool after calling end on the pool')).toEqual(['dist/shared/pg.js']);
    expect(holding('"_Sql"')).toEqual(['dist/shared/prisma-sql.js']);
    for (const name of ['dist/main.js', 'dist/lazy/prisma.js'])
      expect(text(name)).toMatch(/require\("\.{1,2}\/shared\/pg\.js"\)/);
  });

  it('unpacks to at most 120 MB', () => {
    const unpackedBytes = [...files.values()].reduce((n, bytes) => n + bytes.length, 0);
    expect(unpackedBytes).toBeLessThanOrEqual(120 * MB);
  });

  it('carries no development-only package: everything bundled is a production dependency (package-lock.json)', async () => {
    const bundled = JSON.parse(await readFile(path.join(root, '.deploy/packages.json'), 'utf8')) as Record<
      string,
      number
    >;
    const lock = JSON.parse(await readFile(path.join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const installed = Object.keys(bundled).map((p) => p.slice(p.indexOf('node_modules/')));
    expect(installed).toContain('node_modules/@prisma/client');
    expect(installed).toContain('node_modules/microsoft-cognitiveservices-speech-sdk');
    expect(installed.filter((p) => !lock.packages[p] || lock.packages[p].dev)).toEqual([]);
  });

  it('is what azd deploys (azure.yaml builds it with npm run package and uploads .deploy/app)', async () => {
    type Hook = { posix?: { run?: string }; windows?: { run?: string } };
    const azure = parse(await readFile(path.join(root, 'azure.yaml'), 'utf8')) as {
      services: { api: { dist?: string; hooks?: { prepackage?: Hook } } };
    };
    expect(azure.services.api.dist).toBe('.deploy/app');
    expect(azure.services.api.hooks?.prepackage?.posix?.run).toMatch(/^npm run package$/m);
    expect(azure.services.api.hooks?.prepackage?.windows?.run).toMatch(/^npm run package$/m);
  });

  it('carries a host.json that needs no extension bundle (HTTP and timer triggers only), with the api prefix and the app’s log levels', async () => {
    const host = JSON.parse(Buffer.from(files.get('host.json')!).toString()) as Record<string, unknown>;
    expect(host).toMatchObject({
      version: '2.0',
      extensions: { http: { routePrefix: 'api' } },
      functionTimeout: '00:05:00',
    });
    expect(host).not.toHaveProperty('extensionBundle');
    expect(host).toMatchObject({ logging: { logLevel: { default: 'Information', Function: 'Information' } } });
    // Built into the host: no extension bundle is needed as long as the app registers nothing else.
    const sources = await Promise.all(
      (await readdir(path.join(root, 'src/functions'))).map((f) =>
        readFile(path.join(root, 'src/functions', f), 'utf8'),
      ),
    );
    const kinds = new Set(sources.flatMap((text) => [...text.matchAll(/\bapp\.(\w+)\(/g)].map((m) => m[1]!)));
    expect([...kinds].sort()).toEqual(['http', 'timer']);
    // Streamed responses are the app's own switch (app.setup), which the bundle carries.
    expect(Buffer.from(files.get('dist/main.js')!).toString()).toMatch(/enableHttpStream:(!0|true)/);
  });

  describe('served from the unpacked zip, on real services', () => {
    let standIn: SpeechStandIn;
    let services: TestServices;
    let account: TestAccount;
    let host: ChildProcess;
    let base: string;

    beforeAll(async () => {
      // A long line (~190 KB), which Blob Storage hands over in several pieces: the hit below is streamed.
      standIn = await startSpeechStandIn(await encodeToneMp3(30));
      services = await createTestServices({ AZURE_SPEECH_HOST: standIn.host });
      account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
      const port = await findFreePort();
      base = `http://127.0.0.1:${port}/api`;
      const started = await startServeProcess(
        hostEnvironment(services, {
          AZURE_SPEECH_HOST: standIn.host,
          PORT: String(port),
          MEMORY_CACHE_MB: '0', // every hit from Blob Storage
        }),
        unpacked,
        path.join(unpacked, 'dist/main.js'),
      );
      host = started.process;
      expect(started.output()).toContain(`(${path.join(unpacked, 'dist/main.js')})`);
    });
    afterAll(async () => {
      if (host && host.exitCode === null) host.kill('SIGKILL');
      await services.dispose();
      await standIn.stop();
    });

    it('answers a MISS (Speech SDK, Prisma, Blob SDK all from the bundle), then a HIT-L2 streamed from Blob Storage with the same bytes', async () => {
      const body = JSON.stringify({
        voice: 'es-AR-ElenaNeural',
        text: `Desde el paquete ${randomBytes(4).toString('hex')}`,
      });
      const send = async () =>
        fetch(`${base}/v1/projects/${account.projectId}/characters/audition`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${await account.token()}`, 'Content-Type': 'application/json' },
          body,
        });
      const miss = await send();
      expect(miss.status).toBe(200);
      expect(miss.headers.get('x-cache-status')).toBe('MISS');
      const missAudio = Buffer.from(await miss.arrayBuffer());
      expect(missAudio.length).toBeGreaterThan(0);
      let hit = await send();
      // Until it is stored (just after the miss's answer, a request joins the miss being stored).
      for (let i = 0; i < 20 && !hit.headers.get('server-timing')?.startsWith('tier;desc=l2,'); i++) {
        await hit.arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, 100));
        hit = await send();
      }
      expect(hit.headers.get('x-cache-status')).toBe('HIT-L2');
      expect(hit.headers.get('server-timing')).toMatch(/^tier;desc=l2, /);
      // Streamed, with the stored entry's length and duration up front.
      expect(hit.headers.get('content-length')).toBe(String(missAudio.length));
      expect(hit.headers.get('transfer-encoding')).toBeNull();
      expect(Number(hit.headers.get('x-audio-duration'))).toBeCloseTo(30, 0);
      expect(Buffer.compare(Buffer.from(await hit.arrayBuffer()), missAudio)).toBe(0);
      expect(await services.prisma.audioCache.count({ where: { tenantId: account.tenantId } })).toBe(1);
    });

    it('answers the stats (statements through Prisma’s client, loaded from its chunk, with fragments built by sql)', async () => {
      const stats = await fetch(`${base}/v1/audio-cache/stats`, {
        headers: { Authorization: `Bearer ${await account.token()}` },
      });
      expect(stats.status).toBe(200);
      expect(await stats.json()).toMatchObject({ entries: 1, last24h: { entriesCreated: 1 } });
    });

    it('answers its health check (the database and Blob Storage reached from the bundle)', async () => {
      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(200);
    });
  });
});

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, relative)));
    else if ((await stat(path.join(dir, relative))).isFile()) out.push(relative);
  }
  return out;
}
