import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import selfsigned from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { hostEnvironment, startServeProcess } from '../support/serve-process.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';
import { root } from '../support/repo.ts';
import { GUIDE_BODY } from '../support/auditions.ts';

type Json = Record<string, any>;

/**
 * openapi.yaml is checked twice: as an OpenAPI 3.1 document, and against what the local host
 * (`npm run serve`, real Postgres, Azurite and Speech SDK against the stand-in) really answers
 * on every documented operation. The same host runs with Application Insights pointed at a
 * local HTTPS ingestion stand-in, which must receive the service's metrics.
 */
describe('openapi.yaml against the running service', () => {
  let doc: Json;
  let standIn: SpeechStandIn;
  let services: TestServices;
  let account: TestAccount;
  let admin: TestAccount;
  let keyless: TestAccount;
  let host: ChildProcess;
  let base: string;
  let workDir: string;
  let ingestion: https.Server;
  const telemetry: Json[] = [];
  const exercised = new Set<string>();
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);

  beforeAll(async () => {
    doc = parse(await readFile(path.join(root, 'openapi.yaml'), 'utf8'));
    ajv.addSchema(doc, 'openapi');
    standIn = await startSpeechStandIn(await encodeToneMp3(0.5));
    services = await createTestServices();
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    admin = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    await services.prisma.user.update({ where: { id: admin.userId }, data: { role: 'admin' } });
    keyless = await createTestAccount(services.prisma, services.config.jwt.secretKey, { ttsKey: null });

    // Application Insights' ingestion endpoint, locally (the exporter only speaks HTTPS).
    workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-openapi-'));
    const tls = await selfsigned.generate([{ name: 'commonName', value: '127.0.0.1' }], {
      notAfterDate: new Date(Date.now() + 86_400_000),
      keySize: 2048,
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    await writeFile(path.join(workDir, 'ca.pem'), tls.cert);
    ingestion = https.createServer({ key: tls.private, cert: tls.cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (req.url?.startsWith('/v2.1/track')) {
          let body = Buffer.concat(chunks);
          if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
          const envelopes = JSON.parse(body.toString()) as Json[];
          telemetry.push(...envelopes);
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ itemsReceived: envelopes.length, itemsAccepted: envelopes.length, errors: [] }));
        } else {
          res.writeHead(404).end();
        }
      });
    });
    await new Promise<void>((resolve) => ingestion.listen(0, '127.0.0.1', resolve));
    const ingestionUrl = `https://127.0.0.1:${(ingestion.address() as AddressInfo).port}/`;

    const port = await findFreePort();
    base = `http://127.0.0.1:${port}/api`;
    const started = await startServeProcess(
      hostEnvironment(services, {
        NODE_EXTRA_CA_CERTS: path.join(workDir, 'ca.pem'),
        AZURE_SPEECH_HOST: standIn.host,
        APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=${ingestionUrl}`,
        PORT: String(port),
      }),
      workDir,
    );
    host = started.process;
  });

  afterAll(async () => {
    if (host && host.exitCode === null) host.kill('SIGKILL');
    await services.dispose();
    await standIn.stop();
    await new Promise((resolve) => ingestion.close(resolve));
    await rm(workDir, { recursive: true, force: true });
  });

  /** The operation of `method` on the documented path that `url` matches, and the template. */
  function operationFor(method: string, url: URL): { template: string; operation: Json } {
    const apiPath = url.pathname.replace(/^\/api/, '');
    for (const [template, item] of Object.entries(doc.paths as Json)) {
      const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      if (pattern.test(apiPath) && item[method.toLowerCase()])
        return { template, operation: item[method.toLowerCase()] };
    }
    throw new Error(`${method} ${apiPath} is not in openapi.yaml`);
  }

  const resolve = (value: Json): Json => {
    if (!value?.$ref) return value;
    const pointer = (value.$ref as string).replace(/^#\//, '').split('/');
    return resolve(pointer.reduce((node: Json, key) => node[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc));
  };

  /** Sends the request, then checks status, headers and body against the document. */
  async function call(
    method: string,
    apiPath: string,
    init: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ) {
    const url = new URL(`${base}${apiPath}`);
    const headers: Record<string, string> = { ...init.headers };
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    if (init.body !== undefined || init.rawBody !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(url, {
      method,
      headers,
      body: init.rawBody ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
    });
    const bytes = Buffer.from(await response.arrayBuffer());

    const { template, operation } = operationFor(method, url);
    if (response.ok && init.body !== undefined && operation.requestBody?.content?.['application/json']?.schema) {
      // What the service takes, the document must take too.
      const pointer = ['paths', template, method.toLowerCase(), 'requestBody', 'content', 'application/json', 'schema'];
      const validate = ajv.compile({
        $ref: `openapi#/${pointer.map((key) => encodeURIComponent(key.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/')}`,
      });
      expect(
        validate(init.body),
        `${method} ${template}: the body it took, ${JSON.stringify(init.body)}: ${ajv.errorsText(validate.errors)}`,
      ).toBe(true);
    }
    const documented = operation.responses[String(response.status)];
    expect(
      documented,
      `${method} ${template} answered ${response.status}, which openapi.yaml does not list`,
    ).toBeDefined();
    const spec = resolve(documented);
    for (const [name, header] of Object.entries((spec.headers ?? {}) as Json)) {
      const definition = resolve(header);
      const value = response.headers.get(name);
      if (definition.required) expect(value, `${method} ${template} ${response.status}: header ${name}`).not.toBeNull();
      if (value !== null && definition.schema) {
        const valid = ajv.validate(definition.schema, value);
        expect(valid, `${name}: ${value} ${ajv.errorsText()}`).toBe(true);
      }
    }
    const contentType = (response.headers.get('content-type') ?? '').split(';')[0]!;
    expect(Object.keys(spec.content ?? {}), `${method} ${template} ${response.status}: content type`).toContain(
      contentType,
    );
    const schema = spec.content[contentType].schema as Json;
    let json: unknown;
    if (contentType.endsWith('json')) {
      json = JSON.parse(bytes.toString());
      const validate = ajv.compile({ $ref: `openapi${schema.$ref}` });
      expect(validate(json), `${method} ${template} ${response.status}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    } else {
      expect(bytes.length).toBeGreaterThan(0);
    }
    exercised.add(`${method.toUpperCase()} ${template}`);
    return { status: response.status, headers: response.headers, json: json as Json, bytes };
  }

  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
  });

  it('describes the audition function’s real answers: streamed MISS, HIT-L2 and its problems', async () => {
    const body = GUIDE_BODY;
    const audition = `/v1/projects/${account.projectId}/characters/audition`;
    const token = await account.token();
    const miss = await call('POST', audition, { token, body });
    expect([miss.status, miss.headers.get('x-cache-status'), miss.headers.get('content-length')]).toEqual([
      200,
      'MISS',
      null,
    ]);
    const hit = await call('POST', audition, { token, body });
    expect([hit.headers.get('x-cache-status'), hit.headers.get('content-length')]).toEqual([
      'HIT-L2',
      String(miss.bytes.length),
    ]);
    expect((await call('POST', audition, { token, body: { voice: 'nope', text: '' } })).status).toBe(400);
    expect((await call('POST', audition, { token, body: { ...body, text: '   ' } })).status).toBe(400);
    expect((await call('POST', audition, { token, body: { ...body, text: 'Y entonces\u0085 se fue' } })).status).toBe(
      400,
    );
    expect((await call('POST', audition, { token, rawBody: 'not json' })).status).toBe(400);
    expect((await call('POST', audition, { body })).status).toBe(401);
    expect((await call('POST', `/v1/projects/${admin.projectId}/characters/audition`, { token, body })).status).toBe(
      404,
    );
    expect(
      (await call('POST', audition, { token, rawBody: JSON.stringify({ ...body, text: 'x'.repeat(70_000) }) })).status,
    ).toBe(413);
    const noKey = await call('POST', `/v1/projects/${keyless.projectId}/characters/audition`, {
      token: await keyless.token(),
      body: { ...body, text: 'Sin clave' },
    });
    expect(noKey.status).toBe(422);
    standIn.behave({ kind: 'reject-upgrade', status: 401 });
    try {
      expect((await call('POST', audition, { token, body: { ...body, text: 'Clave rechazada' } })).status).toBe(502);
    } finally {
      standIn.behave({ kind: 'audio' });
    }
  });

  it('describes the web app’s voices route as its pages call it: the casting page’s `{}`, MISS then HIT-L2, and its problems', async () => {
    const token = await admin.token();
    const route = `/v1/projects/${admin.projectId}/voices/es-PE-CamilaNeural/audition`;
    const web = { token, headers: { accept: 'application/json, text/plain, */*' } };
    const miss = await call('POST', route, { ...web, body: {} });
    expect([miss.status, miss.headers.get('x-cache-status'), miss.headers.get('content-disposition')]).toEqual([
      200,
      'MISS',
      'inline; filename="es-PE-CamilaNeural-audition.mp3"',
    ]);
    const hit = await call('POST', route, { ...web, body: {} });
    expect([hit.status, hit.headers.get('x-cache-status'), hit.headers.get('etag')]).toEqual([
      200,
      'HIT-L2',
      miss.headers.get('etag'),
    ]);
    // An empty or blank text is the same default line (the characters page may send one).
    for (const text of ['', ' ']) {
      const blank = await call('POST', route, { ...web, body: { text } });
      expect([blank.status, blank.headers.get('etag')]).toEqual([200, miss.headers.get('etag')]);
    }
    expect(
      (await call('POST', `/v1/projects/${admin.projectId}/voices/nope/audition`, { ...web, body: {} })).status,
    ).toBe(400);
    expect((await call('POST', route, { body: {} })).status).toBe(401);
    expect(
      (await call('POST', `/v1/projects/${keyless.projectId}/voices/es-PE-CamilaNeural/audition`, { ...web, body: {} }))
        .status,
    ).toBe(404);
  });

  it('describes prewarm, stats and purge as they answer', async () => {
    const token = await account.token();
    const prewarm = `/v1/projects/${account.projectId}/characters/auditions/prewarm`;
    const warmed = await call('POST', prewarm, {
      token,
      body: {
        auditions: [
          { voice: 'es-AR-ElenaNeural', text: 'Precalentada' },
          { voice: 'x', text: 'y' },
        ],
      },
    });
    expect(warmed.json).toMatchObject({ created: 1, failed: 1 });
    expect((await call('POST', prewarm, { token, body: { auditions: [] } })).status).toBe(400);
    expect((await call('POST', prewarm, { body: { auditions: [] } })).status).toBe(401);

    const stats = await call('GET', '/v1/audio-cache/stats', { token });
    expect(stats.json).toMatchObject({ tenantId: account.tenantId, entries: 2 });
    expect((await call('GET', '/v1/audio-cache/stats')).status).toBe(401);

    expect((await call('DELETE', '/v1/audio-cache', { token })).status).toBe(403);
    expect((await call('DELETE', '/v1/audio-cache?voice=nope', { token: await admin.token() })).status).toBe(400);
    const purged = await call('DELETE', '/v1/audio-cache?voice=es-AR-ElenaNeural', { token: await admin.token() });
    expect(purged.json).toMatchObject({ tenantId: admin.tenantId, entriesDeleted: 0 });
    expect((await call('GET', '/health')).status).toBe(200);
  });

  it('exercises every operation the document lists', () => {
    const documented = Object.entries(doc.paths as Json).flatMap(([template, item]) =>
      Object.keys(item)
        .filter((key) => ['get', 'post', 'put', 'patch', 'delete'].includes(key))
        .map((method) => `${method.toUpperCase()} ${template}`),
    );
    expect([...exercised].sort()).toEqual(documented.sort());
  });

  it('sends its metrics to Application Insights when it stops (Azure Monitor metric exporter)', async () => {
    const exited = new Promise<number | null>((resolve) => host.once('exit', (code) => resolve(code)));
    host.kill('SIGINT');
    expect(await exited).toBe(0);
    const metrics = telemetry
      .filter((envelope) => envelope.data?.baseType === 'MetricData')
      .flatMap((envelope) =>
        (envelope.data.baseData.metrics as Json[]).map((m): Json => ({
          ...m,
          properties: envelope.data.baseData.properties ?? {},
        })),
      );
    const requests = metrics.filter((m) => m.name === 'audition_requests');
    const count = (cacheStatus: string) =>
      requests.filter((m) => m.properties.cache_status === cacheStatus).reduce((total, m) => total + m.value, 0);
    expect(count('MISS')).toBe(2);
    expect(count('HIT-L2')).toBe(4); // two of them the voices route's blank texts
    expect(count('ERROR')).toBeGreaterThanOrEqual(6);
    expect(metrics.some((m) => m.name === 'audition_bytes_served' && m.value > 0)).toBe(true);
    expect(metrics.some((m) => m.name === 'tts_synthesis_duration')).toBe(true);
    expect(
      metrics.some((m) => m.name === 'tts_synthesis_failures' && m.properties.reason === 'tts-credentials-rejected'),
    ).toBe(true);
    // No secret in anything sent.
    const sent = JSON.stringify(telemetry);
    expect(sent).not.toContain(services.config.jwt.secretKey);
    expect(sent).not.toMatch(/project-key-/);
  });
});
