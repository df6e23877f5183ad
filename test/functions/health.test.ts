import { HttpRequest, HttpResponse, InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { healthFunction } from '../../src/functions/health.ts';
import { createHealthHandler } from '../../src/handlers/health-handler.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

function invoke(handler: ReturnType<typeof createHealthHandler>) {
  const logs: string[] = [];
  const context = new InvocationContext({
    invocationId: 'test',
    functionName: 'health',
    logHandler: (level, ...args) => logs.push(`${level}: ${args.join(' ')}`),
  });
  const request = new HttpRequest({ method: 'GET', url: 'http://localhost:7071/api/health' });
  return handler(request, context).then((init) => ({ response: new HttpResponse(init), logs }));
}

describe('GET /api/health', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await createTestServices();
  });
  afterAll(() => services.dispose());

  it('is an anonymous GET on the api/health route', () => {
    expect(healthFunction).toMatchObject({
      trigger: 'http',
      name: 'health',
      options: { methods: ['GET'], route: 'health', authLevel: 'anonymous' },
    });
  });

  it('answers 200 with every check ok', async () => {
    const { response } = await invoke(createHealthHandler(() => services));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({
      status: 'ok',
      checks: { database: 'ok', blobStorage: 'ok', projectStorage: 'ok' },
    });
  });

  it('answers 503 naming the missing settings in the log, not in the response', async () => {
    const { response, logs } = await invoke(
      createHealthHandler(() => {
        parseConfig({ JWT_SECRET_KEY: 'a-secret-that-must-not-leak' });
        throw new Error('unreachable');
      }),
    );
    expect(response.status).toBe(503);
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({ status: 'unavailable', checks: { configuration: 'failed' } });
    expect(body).not.toMatch(/DATABASE_URL/);
    expect(logs.join('\n')).toMatch(/DATABASE_URL is required/);
    expect(logs.join('\n')).not.toMatch(/a-secret-that-must-not-leak/);
  });
});
