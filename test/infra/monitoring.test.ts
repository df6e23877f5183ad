import { randomBytes } from 'node:crypto';
import { InvocationContext } from '@azure/functions';
import { metrics } from '@opentelemetry/api';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/app/services.ts';
import { parseConfig } from '../../src/config.ts';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { createCleanupHandler } from '../../src/handlers/cleanup-handler.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { shippedQueries } from '../support/shipped-queries.ts';
import { createTestServices, testSettings, type TestServices } from '../support/test-services.ts';

// The shipped KQL (README and docs/, alerts, workbook) reads what the app really writes. Fed the log lines
// and metrics of real requests (Postgres, Azurite, the Speech SDK against the stand-in: misses,
// hits, both routes, errors, throttling) and of a real cleanup pass, every field, value, message
// prefix, parse pattern, metric name and dimension the queries name is found in them, and
// counters are never read through valueCount (1 per export for a counter, as the Azure Monitor
// exporter sends them; only a histogram's valueCount counts events).

class CollectingReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** The shipped queries without their comment lines (what runs). */
const queries = shippedQueries().map(({ source, query }) => ({ source, query: query.replace(/^\s*\/\/.*$/gm, '') }));
const all = (pattern: RegExp) =>
  queries.flatMap(({ source, query }) => [...query.matchAll(pattern)].map((m) => ({ source, match: m })));

describe('the shipped KQL against the lines and metrics the app emits', () => {
  const reader = new CollectingReader();
  let standIn: SpeechStandIn;
  let services: TestServices;
  let account: TestAccount;
  /** Every line logged, without its level. */
  const lines: string[] = [];
  let requestLines: Record<string, unknown>[];
  let recorded: { name: string; kind: DataPointType; attributes: Set<string> }[];

  beforeAll(async () => {
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    standIn = await startSpeechStandIn(await encodeToneMp3(0.4));
    services = await createTestServices({ AZURE_SPEECH_HOST: standIn.host, PREDICTIVE_PREWARM_MAX_VOICES: '2' });
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    const keep = (logs: string[]) => lines.push(...logs.map((line) => line.replace(/^\w+: /, '')));

    const call = async (route: 'characters' | 'voices', body: object, token?: string) => {
      const voice = 'es-AR-ElenaNeural';
      const { response, logs } = await invokeHttp(
        createAuditionHandler(() => services, route),
        {
          url: `http://localhost/api/v1/projects/${account.projectId}/${route === 'characters' ? 'characters' : `voices/${voice}`}/audition`,
          headers: { authorization: `Bearer ${token ?? (await account.token())}`, 'content-type': 'application/json' },
          body: JSON.stringify(route === 'characters' ? { voice, ...body } : body),
          params: { projectId: account.projectId, voiceId: voice },
        },
      );
      await response.arrayBuffer();
      await services.auditions.drain();
      keep(logs);
    };
    const text = `Monitoreo ${randomBytes(4).toString('hex')}`;
    for (const route of ['characters', 'voices'] as const) {
      await call(route, { text: `${text} ${route}` }); // MISS
      await call(route, { text: `${text} ${route}` }); // HIT-L2
    }
    await call('voices', {}); // the casting page's default line: a predictive prewarm of two other voices
    await services.predictive.idle();
    await call('characters', { text }, 'not.a.token'); // 401
    await call('characters', { text: 5 }); // 400
    standIn.behave({ kind: 'close', code: 4429, reason: 'Throttled due to too many requests' });
    await call('characters', { text: `${text} throttled` }); // 503 tts-throttled
    standIn.behave({ kind: 'audio' });
    // BYPASS: a stored line, by an instance whose Blob Storage does not answer (nothing listens).
    const blind = createServices(
      parseConfig(
        testSettings(services.database.url, {
          AZURE_SPEECH_HOST: standIn.host,
          JWT_SECRET_KEY: services.config.jwt.secretKey,
          AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;`,
          AZURE_STORAGE_CONTAINER_NAME: services.config.blobStorage.containerName,
        }),
      ),
    );
    const { response, logs } = await invokeHttp(
      createAuditionHandler(() => blind),
      {
        url: `http://localhost/api/v1/projects/${account.projectId}/characters/audition`,
        headers: { authorization: `Bearer ${await account.token()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text: `${text} characters` }),
        params: { projectId: account.projectId },
      },
    );
    await response.arrayBuffer();
    await blind.close();
    keep(logs);

    const context = new InvocationContext({
      functionName: 'cleanup',
      logHandler: (_level, ...args) => lines.push(args.join(' ')),
    });
    await createCleanupHandler(() => services)({ isPastDue: false } as never, context);

    requestLines = lines
      .filter((line) => line.startsWith('{"event":"request"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const { resourceMetrics } = await reader.collect();
    recorded = resourceMetrics.scopeMetrics
      .flatMap((scope) => scope.metrics)
      .map((m) => ({
        name: m.descriptor.name,
        kind: m.dataPointType,
        attributes: new Set(m.dataPoints.flatMap((p) => Object.keys(p.attributes))),
      }));
  });
  afterAll(async () => {
    await services.dispose();
    await standIn.stop();
    metrics.disable();
  });

  it('produced the lines the checks below read: requests of both routes, a throttled one, a BYPASS, the cleanup’s', () => {
    expect(new Set(requestLines.map((r) => r.function))).toEqual(new Set(['audition', 'voiceAudition']));
    expect(requestLines.map((r) => r.error)).toContain('tts-throttled');
    expect(requestLines.map((r) => r.cache)).toContain('BYPASS');
    expect(lines.some((line) => line.startsWith('Cache stats: '))).toBe(true);
    expect(lines.some((line) => line.startsWith('Predictive prewarm (last 7 d): '))).toBe(true);
  });

  it('every field of the request line a query reads (r.<field>) is one the app writes', () => {
    const written = new Set(requestLines.flatMap((r) => Object.keys(r)));
    const read = all(/\br\.(\w+)/g).map(({ source, match }) => ({ source, field: match[1]! }));
    expect(read.length).toBeGreaterThan(10);
    expect(read.filter(({ field }) => !written.has(field))).toEqual([]);
  });

  it('every value a query compares a request field with is one the app writes there', () => {
    const pairs = [
      ...all(/(?:tostring|toint)\(r\.(\w+)\)\s*==\s*['"]?([\w-]+)['"]?/g).map(({ source, match }) => ({
        source,
        field: match[1]!,
        values: [match[2]!],
      })),
      ...all(/tostring\(r\.(\w+)\)\s+in\s+\(([^)]*)\)/g).map(({ source, match }) => ({
        source,
        field: match[1]!,
        values: [...match[2]!.matchAll(/['"]([^'"]*)['"]/g)].map((v) => v[1]!),
      })),
      ...all(/\br\.(\w+) == ["']([\w-]+)["']/g).map(({ source, match }) => ({
        source,
        field: match[1]!,
        values: [match[2]!],
      })),
    ];
    expect(pairs.length).toBeGreaterThan(5);
    const unseen = pairs.flatMap(({ source, field, values }) =>
      values
        .filter((value) => !requestLines.some((r) => String(r[field]) === value))
        .map((value) => `${source}: r.${field} == ${value}`),
    );
    expect(unseen).toEqual([]);
  });

  it('every message prefix a query filters on starts a line the app writes', () => {
    const prefixes = all(/message startswith (?:'([^']*)'|"([^"]*)")/g).map(({ source, match }) => ({
      source,
      prefix: (match[1] ?? match[2])!,
    }));
    expect(prefixes.length).toBeGreaterThan(5);
    expect(prefixes.filter(({ prefix }) => !lines.some((line) => line.startsWith(prefix)))).toEqual([]);
  });

  it('every parse pattern matches a line the cleanup writes, and the values compared after it are ones it captures', () => {
    const patterns = all(/parse message with (.*)$/gm);
    expect(patterns.length).toBeGreaterThan(1);
    for (const { source, match } of patterns) {
      // KQL's `parse`: literals, and name:type captures (`*`: anything), in order.
      const names: string[] = [];
      let regex = '';
      for (const token of match[1]!.matchAll(/'([^']*)'|(\w+):(long|real|string)|\*/g)) {
        const [, literal, name, type] = token;
        if (literal !== undefined) regex += literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        else if (name) {
          names.push(name);
          regex += type === 'long' ? '(\\d+)' : type === 'real' ? '([\\d.]+)' : '(\\S+?)';
        } else regex += '.*';
      }
      const captured = lines.map((line) => new RegExp(`^${regex}$`).exec(line)).filter((m) => m !== null);
      expect(captured.length, `${source}: ${match[1]}`).toBeGreaterThan(0);
      // The captures a query compares with literal values (`what == 'expired'`) see those values.
      const query = queries.find((q) => q.source === source)!.query;
      for (const [i, name] of names.entries()) {
        for (const compared of query.matchAll(new RegExp(`\\b${name} == '([^']*)'`, 'g'))) {
          expect(
            captured.map((m) => m[i + 1]),
            `${source}: ${name} == '${compared[1]}'`,
          ).toContain(compared[1]);
        }
      }
    }
  });

  it('every metric and dimension a query names is one the app records, and counters are not read through valueCount', () => {
    const names = new Map(recorded.map((m) => [m.name, m]));
    const named = [
      ...all(/\bname == ['"](\w+)['"]/g).map(({ source, match }) => ({ source, name: match[1]! })),
      ...all(/\bname in \(([^)]*)\)/g).flatMap(({ source, match }) =>
        [...match[1]!.matchAll(/['"](\w+)['"]/g)].map((n) => ({ source, name: n[1]! })),
      ),
    ];
    expect(named.length).toBeGreaterThan(4);
    expect(named.filter(({ name }) => !names.has(name))).toEqual([]);

    const dimensions = new Set(recorded.flatMap((m) => [...m.attributes]));
    expect(all(/customDimensions\.(\w+)/g).filter(({ match }) => !dimensions.has(match[1]!))).toEqual([]);

    // valueCount next to a counter's name (or in a query naming only counters) counts exports, not events.
    for (const { source, query } of queries) {
      for (const use of query.matchAll(/valueCount/g)) {
        // `sumif(valueCount, name == 'X')`, `iff(name == 'X', valueCount, …)`, or else every metric the query names.
        const after = /^valueCount,\s*name == ['"](\w+)['"]/.exec(query.slice(use.index));
        const before = /name == ['"](\w+)['"],\s*$/.exec(query.slice(0, use.index));
        const readFor =
          after || before
            ? [(after ?? before)![1]!]
            : [...query.matchAll(/['"](\w+)['"]/g)].map((m) => m[1]!).filter((n) => names.has(n));
        for (const name of readFor)
          expect(names.get(name)?.kind, `${source}: valueCount of ${name}`).toBe(DataPointType.HISTOGRAM);
      }
    }
  });
});
