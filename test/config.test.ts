import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, parseDatabaseUrl, SETTING_NAMES } from '../src/config.ts';

const minimal = {
  DATABASE_URL: 'postgresql://app:pw@db.example:5432/khipu_cloud',
  AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
  JWT_SECRET_KEY: 'k'.repeat(32),
};

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected parseConfig to fail');
}

describe('parseConfig', () => {
  it('applies the documented defaults', () => {
    expect(parseConfig(minimal)).toEqual({
      databaseUrl: minimal.DATABASE_URL,
      databasePoolMax: 5,
      databaseReconnectMs: 3_000,
      databaseTimeoutMs: 5_000,
      blobStorage: {
        kind: 'connection-string',
        connectionString: 'UseDevelopmentStorage=true',
        containerName: 'audio-cache',
      },
      blobTimeouts: { readMs: 3_000, writeMs: 10_000 },
      maxAudioBytes: 16 * 1024 * 1024,
      projectStorage: {
        endpointSuffixes: ['core.windows.net', 'core.chinacloudapi.cn', 'core.usgovcloudapi.net'],
        allowAnyEndpoint: false,
      },
      speech: {
        defaultKey: undefined,
        defaultRegion: undefined,
        host: undefined,
        timeoutMs: 20_000,
        connectTimeoutMs: 5_000,
        firstAudioTimeoutMs: 10_000,
        chunkTimeoutMs: 5_000,
        provider: 'azure',
        maxConcurrency: 20,
        queueWaitMs: 10_000,
        defaultKeyCharsPerTenantPerDay: 100_000,
      },
      jwt: { secretKey: minimal.JWT_SECRET_KEY, algorithm: 'HS256' },
      cache: { ttlDays: 30, maxEntriesPerTenant: 10_000, cleanupSchedule: '0 0 * * * *', lineLeaseMs: 6_000 },
      memoryCache: { maxBytes: 64 * 1024 * 1024, ttlMs: 120_000 },
      authCacheMs: 30_000,
      hitFlushMs: 5_000,
      ttsPricePerMillionChars: 16,
      prewarmConcurrency: 4,
      predictivePrewarm: { maxVoices: 44, concurrency: 4 },
      applicationInsightsConnectionString: undefined,
      port: 7071,
    });
  });

  it('reads every setting when given', () => {
    const config = parseConfig({
      ...minimal,
      AZURE_STORAGE_CONTAINER_NAME: 'auditions-2',
      AZURE_SPEECH_KEY: 'speech-key',
      AZURE_SPEECH_REGION: 'eastus',
      AZURE_SPEECH_HOST: 'ws://localhost:5000',
      JWT_ALGORITHM: 'HS512',
      CACHE_TTL_DAYS: '7.5',
      CACHE_MAX_ENTRIES_PER_TENANT: '5000',
      CACHE_CLEANUP_SCHEDULE: '0 */15 * * * *',
      CACHE_LINE_LEASE_SECONDS: '2.5',
      TTS_TIMEOUT_SECONDS: '2.5',
      TTS_CONNECT_TIMEOUT_SECONDS: '1',
      TTS_FIRST_AUDIO_TIMEOUT_SECONDS: '2',
      TTS_CHUNK_TIMEOUT_SECONDS: '0.5',
      DATABASE_TIMEOUT_SECONDS: '1.5',
      BLOB_READ_TIMEOUT_SECONDS: '0.75',
      BLOB_WRITE_TIMEOUT_SECONDS: '4',
      TTS_PROVIDER: 'local',
      PORT: '8080',
      MEMORY_CACHE_MB: '0.5',
      MEMORY_CACHE_TTL_SECONDS: '30',
      AUTH_CACHE_SECONDS: '0',
      HIT_FLUSH_SECONDS: '0.25',
      TTS_PRICE_PER_MILLION_CHARS: '0',
      PREWARM_CONCURRENCY: '2',
      APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
    });
    expect(config.ttsPricePerMillionChars).toBe(0);
    expect(config.prewarmConcurrency).toBe(2);
    expect(config.applicationInsightsConnectionString).toBe('InstrumentationKey=00000000-0000-0000-0000-000000000000');
    expect(config.memoryCache).toEqual({ maxBytes: 524_288, ttlMs: 30_000 });
    expect(config.authCacheMs).toBe(0);
    expect(config.hitFlushMs).toBe(250);
    expect(config.blobStorage.containerName).toBe('auditions-2');
    expect(config.databaseTimeoutMs).toBe(1_500);
    expect(config.blobTimeouts).toEqual({ readMs: 750, writeMs: 4_000 });
    expect(config.speech).toEqual({
      defaultKey: 'speech-key',
      defaultRegion: 'eastus',
      host: 'ws://localhost:5000',
      timeoutMs: 2_500,
      connectTimeoutMs: 1_000,
      firstAudioTimeoutMs: 2_000,
      chunkTimeoutMs: 500,
      provider: 'local',
      maxConcurrency: 20,
      queueWaitMs: 10_000,
      defaultKeyCharsPerTenantPerDay: 100_000,
    });
    expect(config.jwt.algorithm).toBe('HS512');
    expect(config.cache).toEqual({
      ttlDays: 7.5,
      maxEntriesPerTenant: 5000,
      cleanupSchedule: '0 */15 * * * *',
      lineLeaseMs: 2_500,
    });
    expect(config.port).toBe(8080);
  });

  it('uses managed identity for Blob access when only AZURE_STORAGE_ACCOUNT_NAME is set', () => {
    const { AZURE_STORAGE_CONNECTION_STRING: _, ...env } = minimal;
    expect(parseConfig({ ...env, AZURE_STORAGE_ACCOUNT_NAME: 'khipustudio' }).blobStorage).toEqual({
      kind: 'identity',
      accountUrl: 'https://khipustudio.blob.core.windows.net',
      containerName: 'audio-cache',
    });
  });

  it('prefers the connection string when both storage settings are present (the guide sets both)', () => {
    const config = parseConfig({ ...minimal, AZURE_STORAGE_ACCOUNT_NAME: 'khipustudio' });
    expect(config.blobStorage.kind).toBe('connection-string');
  });

  it('treats a blank setting as unset, as Azure app settings present them', () => {
    const config = parseConfig({ ...minimal, CACHE_TTL_DAYS: '', AZURE_SPEECH_KEY: '  ', JWT_ALGORITHM: '' });
    expect(config.cache.ttlDays).toBe(30);
    expect(config.speech.defaultKey).toBeUndefined();
    expect(config.jwt.algorithm).toBe('HS256');
  });

  it('names every missing required setting at once', () => {
    expect(problemsOf({})).toEqual([
      'DATABASE_URL is required',
      'JWT_SECRET_KEY is required',
      'AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME is required (UseDevelopmentStorage=true for Azurite)',
    ]);
  });

  it.each([
    ['DATABASE_URL', 'mysql://db/x', /^DATABASE_URL must be a postgresql:\/\/ connection URL$/],
    ['DATABASE_POOL_MAX', '0', /^DATABASE_POOL_MAX must be a positive integer/],
    ['DATABASE_POOL_MAX', '2.5', /^DATABASE_POOL_MAX must be/],
    ['DATABASE_RECONNECT_SECONDS', '61', /^DATABASE_RECONNECT_SECONDS must be at most 60$/],
    ['DATABASE_RECONNECT_SECONDS', '-1', /^DATABASE_RECONNECT_SECONDS must be/],
    ['AZURE_STORAGE_ACCOUNT_NAME', 'Khipu_Studio', /^AZURE_STORAGE_ACCOUNT_NAME must be/],
    ['AZURE_STORAGE_CONTAINER_NAME', 'Audio_Cache', /^AZURE_STORAGE_CONTAINER_NAME must be/],
    ['AZURE_STORAGE_CONTAINER_NAME', 'ab', /^AZURE_STORAGE_CONTAINER_NAME must be/],
    ['AZURE_SPEECH_REGION', 'East US', /^AZURE_SPEECH_REGION must be an Azure region/],
    ['AZURE_SPEECH_HOST', 'ftp://speech.local', /^AZURE_SPEECH_HOST must be a ws:\/\//],
    ['JWT_ALGORITHM', 'none', /^JWT_ALGORITHM must be HS256, HS384 or HS512$/],
    ['JWT_ALGORITHM', 'RS256', /^JWT_ALGORITHM must be HS256, HS384 or HS512$/],
    ['CACHE_TTL_DAYS', 'thirty', /^CACHE_TTL_DAYS must be a positive number \(got "thirty"\)$/],
    ['CACHE_TTL_DAYS', '-1', /^CACHE_TTL_DAYS must be a positive number/],
    ['CACHE_MAX_ENTRIES_PER_TENANT', '10.5', /^CACHE_MAX_ENTRIES_PER_TENANT must be a positive integer/],
    ['CACHE_LINE_LEASE_SECONDS', '0.2', /^CACHE_LINE_LEASE_SECONDS must be at least 0.5$/],
    ['CACHE_LINE_LEASE_SECONDS', '61', /^CACHE_LINE_LEASE_SECONDS must be at most 60$/],
    ['CACHE_CLEANUP_SCHEDULE', '0 * * * *', /^CACHE_CLEANUP_SCHEDULE must be a six-field NCRONTAB/],
    ['PORT', '70000', /^PORT must be a TCP port/],
    ['TTS_TIMEOUT_SECONDS', '0', /^TTS_TIMEOUT_SECONDS must be a positive number/],
    ['TTS_PROVIDER', 'polly', /^TTS_PROVIDER must be azure or local$/],
    ['TTS_MAX_CONCURRENCY', '2.5', /^TTS_MAX_CONCURRENCY must be a positive integer/],
    ['PORT', '0', /^PORT must be a positive integer/],
    ['MEMORY_CACHE_MB', '-1', /^MEMORY_CACHE_MB must be a non-negative number \(got "-1"\)$/],
    ['AUTH_CACHE_SECONDS', 'soon', /^AUTH_CACHE_SECONDS must be a non-negative number/],
    ['HIT_FLUSH_SECONDS', '0', /^HIT_FLUSH_SECONDS must be a positive number/],
  ])('rejects a malformed %s (%s) with a message naming it', (name, value, message) => {
    const problems = problemsOf({ ...minimal, [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it('never repeats a secret or a connection URL in its error message', () => {
    const parse = () => parseConfig({ ...minimal, DATABASE_URL: 'mysql://root:hunter2@db/x', JWT_ALGORITHM: 'none' });
    expect(parse).toThrow(ConfigError);
    const { message } = (() => {
      try {
        parse();
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected parseConfig to fail');
    })();
    // It names both settings it refuses, and repeats neither the URL's password nor the secret.
    expect(message).toMatch(/DATABASE_URL must be a postgresql:\/\/ connection URL/);
    expect(message).toMatch(/JWT_ALGORITHM must be HS256, HS384 or HS512/);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('mysql://');
    expect(message).not.toContain(minimal.JWT_SECRET_KEY);
  });

  it('knows the fixed setting names operators rely on', () => {
    expect([...SETTING_NAMES].sort()).toEqual([
      'APPLICATIONINSIGHTS_CONNECTION_STRING',
      'AUTH_CACHE_SECONDS',
      'AZURE_SPEECH_HOST',
      'AZURE_SPEECH_KEY',
      'AZURE_SPEECH_REGION',
      'AZURE_STORAGE_ACCOUNT_NAME',
      'AZURE_STORAGE_CONNECTION_STRING',
      'AZURE_STORAGE_CONTAINER_NAME',
      'BLOB_READ_TIMEOUT_SECONDS',
      'BLOB_WRITE_TIMEOUT_SECONDS',
      'CACHE_CLEANUP_SCHEDULE',
      'CACHE_LINE_LEASE_SECONDS',
      'CACHE_MAX_ENTRIES_PER_TENANT',
      'CACHE_TTL_DAYS',
      'DATABASE_POOL_MAX',
      'DATABASE_RECONNECT_SECONDS',
      'DATABASE_TIMEOUT_SECONDS',
      'DATABASE_URL',
      'DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY',
      'HIT_FLUSH_SECONDS',
      'JWT_ALGORITHM',
      'JWT_SECRET_KEY',
      'MAX_AUDITION_MB',
      'MEMORY_CACHE_MB',
      'MEMORY_CACHE_TTL_SECONDS',
      'PORT',
      'PREDICTIVE_PREWARM_CONCURRENCY',
      'PREDICTIVE_PREWARM_MAX_VOICES',
      'PREWARM_CONCURRENCY',
      'PROJECT_STORAGE_ALLOW_ANY_ENDPOINT',
      'PROJECT_STORAGE_ENDPOINT_SUFFIXES',
      'TTS_CHUNK_TIMEOUT_SECONDS',
      'TTS_CONNECT_TIMEOUT_SECONDS',
      'TTS_FIRST_AUDIO_TIMEOUT_SECONDS',
      'TTS_MAX_CONCURRENCY',
      'TTS_PRICE_PER_MILLION_CHARS',
      'TTS_PROVIDER',
      'TTS_QUEUE_WAIT_SECONDS',
      'TTS_TIMEOUT_SECONDS',
    ]);
  });
});

describe('parseDatabaseUrl', () => {
  it('needs only DATABASE_URL', () => {
    expect(parseDatabaseUrl({ DATABASE_URL: 'postgres://localhost/x' })).toBe('postgres://localhost/x');
    expect(() => parseDatabaseUrl({})).toThrow('DATABASE_URL is required');
  });
});
