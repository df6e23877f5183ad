import * as z from 'zod/mini';
import type { $ZodIssue } from 'zod/v4/core';
import { DEFAULT_PROJECT_STORAGE_POLICY } from './domain/project-storage.ts';

// Every setting the app reads, parsed once from the environment (Azure app settings, or
// local.settings.json under `func start`). Nothing else in the code reads process.env.
//
// zod/mini rather than zod's chained API: the same checks, but a bundle keeps only the parts
// used (25 KB instead of 470 KB); loading the full API was ~100 ms of every cold start.

/** Azure app settings that are present but blank mean "not set". */
const optionalText = z.pipe(
  z.transform((value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value)),
  z.optional(z.string().check(z.trim())),
);
const requiredText = z.pipe(optionalText, z.string({ error: 'is required' }));

const numberWithDefault = (fallback: number, options: { integer?: boolean; zeroAllowed?: boolean } = {}) =>
  z.pipe(
    optionalText,
    z.transform((value: string | undefined, ctx) => {
      if (value === undefined) return fallback;
      const parsed = Number(value);
      const tooSmall = options.zeroAllowed ? parsed < 0 : parsed <= 0;
      if (!Number.isFinite(parsed) || tooSmall || (options.integer && !Number.isInteger(parsed))) {
        const kind = `${options.zeroAllowed ? 'non-negative' : 'positive'} ${options.integer ? 'integer' : 'number'}`;
        ctx.issues.push({ code: 'custom', message: `must be a ${kind} (got "${value}")`, input: value });
        return z.NEVER;
      }
      return parsed;
    }),
  );

/** `schema`, checked after the blank-means-unset step. */
const text = <T extends z.ZodMiniType<unknown, string | undefined>>(schema: T) => z.pipe(optionalText, schema);

// Blob container names: 3-63 characters, lowercase letters, digits and single hyphens, starting
// and ending with a letter or digit.
const containerName = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
// NCRONTAB with seconds, as Azure Functions timers expect, or a %SETTING% reference.
const sixFieldCron = /^\s*\S+(\s+\S+){5}\s*$/;
// Storage endpoint suffixes (`core.windows.net`), comma-separated.
const endpointSuffixList = /^\s*[a-z0-9-]+(\.[a-z0-9-]+)+\s*(,\s*[a-z0-9-]+(\.[a-z0-9-]+)+\s*)*$/i;

const settingsSchema = z.object({
  DATABASE_URL: z.pipe(
    requiredText,
    z.string().check(z.regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// connection URL')),
  ),
  DATABASE_POOL_MAX: z.pipe(
    numberWithDefault(5, { integer: true }),
    z.number().check(z.minimum(1, 'must be at least 1')),
  ),
  DATABASE_RECONNECT_SECONDS: z.pipe(
    numberWithDefault(3, { zeroAllowed: true }),
    z.number().check(z.maximum(60, 'must be at most 60')),
  ),
  DATABASE_TIMEOUT_SECONDS: numberWithDefault(5),
  AZURE_STORAGE_CONNECTION_STRING: optionalText,
  AZURE_STORAGE_ACCOUNT_NAME: text(
    z.optional(z.string().check(z.regex(/^[a-z0-9]{3,24}$/, 'must be 3-24 lowercase letters and digits'))),
  ),
  AZURE_STORAGE_CONTAINER_NAME: text(
    z._default(
      z.string().check(z.regex(containerName, 'must be 3-63 lowercase letters, digits and single hyphens')),
      'audio-cache',
    ),
  ),
  BLOB_READ_TIMEOUT_SECONDS: numberWithDefault(3),
  BLOB_WRITE_TIMEOUT_SECONDS: numberWithDefault(10),
  MAX_AUDITION_MB: numberWithDefault(16),
  PROJECT_STORAGE_ENDPOINT_SUFFIXES: text(
    z._default(
      z
        .string()
        .check(z.regex(endpointSuffixList, 'must be comma-separated endpoint suffixes such as core.windows.net')),
      DEFAULT_PROJECT_STORAGE_POLICY.endpointSuffixes.join(','), // Azure's public, China and US Government clouds
    ),
  ),
  PROJECT_STORAGE_ALLOW_ANY_ENDPOINT: text(
    z._default(z.enum(['true', 'false'], { error: 'must be true or false' }), 'false'),
  ),
  AZURE_SPEECH_KEY: optionalText,
  AZURE_SPEECH_REGION: text(
    z.optional(z.string().check(z.regex(/^[a-z0-9]+$/, 'must be an Azure region name such as eastus'))),
  ),
  AZURE_SPEECH_HOST: text(
    z.optional(z.url({ protocol: /^(wss?|https?)$/, error: 'must be a ws://, wss://, http:// or https:// URL' })),
  ),
  JWT_SECRET_KEY: requiredText,
  JWT_ALGORITHM: text(
    z._default(z.enum(['HS256', 'HS384', 'HS512'], { error: 'must be HS256, HS384 or HS512' }), 'HS256'),
  ),
  CACHE_TTL_DAYS: numberWithDefault(30),
  CACHE_MAX_ENTRIES_PER_TENANT: numberWithDefault(10_000, { integer: true }),
  CACHE_LINE_LEASE_SECONDS: z.pipe(
    numberWithDefault(6),
    z.number().check(z.minimum(0.5, 'must be at least 0.5'), z.maximum(60, 'must be at most 60')),
  ),
  CACHE_CLEANUP_SCHEDULE: text(
    z._default(
      z.string().check(z.regex(sixFieldCron, 'must be a six-field NCRONTAB expression such as "0 0 * * * *"')),
      '0 0 * * * *',
    ),
  ),
  TTS_TIMEOUT_SECONDS: numberWithDefault(20),
  TTS_CONNECT_TIMEOUT_SECONDS: numberWithDefault(5),
  TTS_FIRST_AUDIO_TIMEOUT_SECONDS: numberWithDefault(10),
  TTS_CHUNK_TIMEOUT_SECONDS: numberWithDefault(5),
  TTS_MAX_CONCURRENCY: numberWithDefault(20, { integer: true }),
  TTS_QUEUE_WAIT_SECONDS: numberWithDefault(10),
  DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY: numberWithDefault(100_000, { integer: true, zeroAllowed: true }),
  TTS_PROVIDER: text(z._default(z.enum(['azure', 'local'], { error: 'must be azure or local' }), 'azure')),
  MEMORY_CACHE_MB: numberWithDefault(64, { zeroAllowed: true }),
  MEMORY_CACHE_TTL_SECONDS: numberWithDefault(120),
  AUTH_CACHE_SECONDS: numberWithDefault(30, { zeroAllowed: true }),
  HIT_FLUSH_SECONDS: numberWithDefault(5),
  TTS_PRICE_PER_MILLION_CHARS: numberWithDefault(16, { zeroAllowed: true }),
  PREWARM_CONCURRENCY: numberWithDefault(4, { integer: true }),
  PREDICTIVE_PREWARM_MAX_VOICES: numberWithDefault(44, { integer: true, zeroAllowed: true }),
  PREDICTIVE_PREWARM_CONCURRENCY: numberWithDefault(4, { integer: true }),
  APPLICATIONINSIGHTS_CONNECTION_STRING: optionalText,
  PORT: z.pipe(
    numberWithDefault(7071, { integer: true }),
    z.number().check(z.maximum(65_535, 'must be a TCP port (1-65535)')),
  ),
});

/** Every setting the app reads: local.settings.example.json and docs/configuration.md list each one. */
export const SETTING_NAMES = Object.keys(settingsSchema.shape) as SettingName[];

type SettingName = keyof typeof settingsSchema.shape;
type Settings = z.infer<typeof settingsSchema>;

/**
 * Every setting, as the app uses it: the type of the one mapping, configOf (below), where each field is named, typed
 * and explained once; the comments on its properties are the fields' documentation wherever Config is used.
 */
export type Config = OptionalWhereUndefined<ReturnType<typeof configOf>>;

// Kept explicit, not inferred from blobStorageOf: TypeScript would give each kind of the union the other's fields
// (`accountUrl?: undefined` on a connection string), and the Blob Storage adapter takes this type on its own.
export type BlobStorageConfig =
  | { kind: 'connection-string'; connectionString: string; containerName: string }
  /** Managed identity (or any DefaultAzureCredential source): no storage key anywhere. */
  | { kind: 'identity'; accountUrl: string; containerName: string };

/**
 * The mapping's type with each field that may be undefined optional (`defaultKey?: string`, where an object
 * literal's type says `defaultKey: string | undefined`), so that one who builds a part of Config may leave it out.
 */
type OptionalWhereUndefined<T> = T extends readonly unknown[] | string | number | boolean | undefined
  ? T
  : { [K in keyof T as undefined extends T[K] ? never : K]: OptionalWhereUndefined<T[K]> } & {
        [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
      } extends infer Both
    ? { [K in keyof Both]: Both[K] } // one object type, not an intersection, where it is shown
    : never;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the app's settings. Throws a ConfigError naming every missing or malformed setting
 * (never echoing a secret's value).
 */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = settingsSchema.safeParse(env);
  const problems = result.success ? [] : describeIssues(result.error);
  const isSet = (name: string) => (env[name] ?? '').trim() !== '';
  if (!isSet('AZURE_STORAGE_CONNECTION_STRING') && !isSet('AZURE_STORAGE_ACCOUNT_NAME')) {
    problems.push(
      'AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME is required ' +
        '(UseDevelopmentStorage=true for Azurite)',
    );
  }
  const settings = result.data;
  if (!settings || problems.length > 0) throw new ConfigError(problems);
  return configOf(settings);
}

/** The settings as the app uses them: Config is this mapping's type. */
function configOf(settings: Settings) {
  return {
    databaseUrl: settings.DATABASE_URL,
    /** Every connection this instance opens to the database: one pool, Prisma's client's too (leases included). */
    databasePoolMax: settings.DATABASE_POOL_MAX,
    /** How long, from the first refused connection of an outage, new connections are retried (0: never). */
    databaseReconnectMs: settings.DATABASE_RECONNECT_SECONDS * 1000,
    /**
     * The deadline of one database statement (from when it is sent), of opening a connection, and
     * of the wait for a free one: past it the statement fails as if the database refused it.
     */
    databaseTimeoutMs: settings.DATABASE_TIMEOUT_SECONDS * 1000,
    ...storageOf(settings),
    speech: {
      /** Used when a project has no key of its own. */
      defaultKey: settings.AZURE_SPEECH_KEY,
      defaultRegion: settings.AZURE_SPEECH_REGION,
      /** A Speech container or other host that replaces the regional endpoint. */
      host: settings.AZURE_SPEECH_HOST,
      /** Longest wait for one synthesis before it is abandoned. */
      timeoutMs: settings.TTS_TIMEOUT_SECONDS * 1000,
      /** The speech service's deadlines: the connection opened, the first audio, each next chunk. */
      connectTimeoutMs: settings.TTS_CONNECT_TIMEOUT_SECONDS * 1000,
      firstAudioTimeoutMs: settings.TTS_FIRST_AUDIO_TIMEOUT_SECONDS * 1000,
      chunkTimeoutMs: settings.TTS_CHUNK_TIMEOUT_SECONDS * 1000,
      /** `azure`, or `local`: an offline voice for development (eSpeak NG, never deployed). */
      provider: settings.TTS_PROVIDER,
      /** Syntheses at once per instance, and how long a request waits for a turn. */
      maxConcurrency: settings.TTS_MAX_CONCURRENCY,
      queueWaitMs: settings.TTS_QUEUE_WAIT_SECONDS * 1000,
      /** Characters a tenant may synthesize per UTC day on `defaultKey` (0: no limit). */
      defaultKeyCharsPerTenantPerDay: settings.DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY,
    },
    jwt: jwtOf(settings),
    cache: {
      ttlDays: settings.CACHE_TTL_DAYS,
      maxEntriesPerTenant: settings.CACHE_MAX_ENTRIES_PER_TENANT,
      cleanupSchedule: settings.CACHE_CLEANUP_SCHEDULE,
      /** How long a line's lease outlives a holder that stopped renewing it (then another instance takes it over). */
      lineLeaseMs: settings.CACHE_LINE_LEASE_SECONDS * 1000,
    },
    /** The in-process tier of hot audio: 0 bytes disables it. */
    memoryCache: {
      maxBytes: Math.round(settings.MEMORY_CACHE_MB * 1024 * 1024),
      ttlMs: settings.MEMORY_CACHE_TTL_SECONDS * 1000,
    },
    /** How long a verified token, a user and a project are trusted without asking again (0: never). */
    authCacheMs: settings.AUTH_CACHE_SECONDS * 1000,
    /** How often hit counts gathered in memory are written to the index. */
    hitFlushMs: settings.HIT_FLUSH_SECONDS * 1000,
    /** Dollars per million characters synthesized, for the savings estimate. */
    ttsPricePerMillionChars: settings.TTS_PRICE_PER_MILLION_CHARS,
    /** Syntheses one prewarm request runs at once. */
    prewarmConcurrency: settings.PREWARM_CONCURRENCY,
    /**
     * Predictive prewarm: after a tenant's default-line audition of a voice, the default lines of up to `maxVoices`
     * other voices of its language (0: off), `concurrency` at a time per run.
     */
    predictivePrewarm: {
      maxVoices: settings.PREDICTIVE_PREWARM_MAX_VOICES,
      concurrency: settings.PREDICTIVE_PREWARM_CONCURRENCY,
    },
    /** Application Insights, when set: metrics through OpenTelemetry's metrics SDK and Azure Monitor's exporter. */
    applicationInsightsConnectionString: settings.APPLICATIONINSIGHTS_CONNECTION_STRING,
    port: settings.PORT,
  };
}

/** Blob Storage: the operator's account, its deadlines and limit, and where projects' own accounts may be. */
function storageOf(settings: Settings) {
  return {
    blobStorage: blobStorageOf(settings),
    /**
     * Blob Storage deadlines: a read's first chunk and each next one (`readMs`); an upload, a
     * delete, a page of a listing (`writeMs`).
     */
    blobTimeouts: {
      readMs: settings.BLOB_READ_TIMEOUT_SECONDS * 1000,
      writeMs: settings.BLOB_WRITE_TIMEOUT_SECONDS * 1000,
    },
    /**
     * The largest audition read or stored (MAX_AUDITION_MB): a blob whose length says more is refused before it is
     * read, one that runs past it is cut off. The Speech service's longest audition (5,000 characters, about 2 MB)
     * fits many times over.
     */
    maxAudioBytes: Math.round(settings.MAX_AUDITION_MB * 1024 * 1024),
    /**
     * Where a project's own storage account (`settings.creds.storage.azure`) may be:
     * `https://{accountName}.blob.{suffix}` with one of `endpointSuffixes`, at a public address. `allowAnyEndpoint`
     * (development only: Azurite, a port, a loopback address) lifts both checks; the deployed app never sets it.
     */
    projectStorage: {
      endpointSuffixes: settings.PROJECT_STORAGE_ENDPOINT_SUFFIXES.split(',').map((suffix) =>
        suffix.trim().toLowerCase(),
      ),
      allowAnyEndpoint: settings.PROJECT_STORAGE_ALLOW_ANY_ENDPOINT === 'true',
    },
  };
}

/** Where the blobs are: the guide's Step 1 sets both; the connection string then wins. */
function blobStorageOf(settings: Settings): BlobStorageConfig {
  const containerName = settings.AZURE_STORAGE_CONTAINER_NAME;
  return settings.AZURE_STORAGE_CONNECTION_STRING
    ? { kind: 'connection-string', connectionString: settings.AZURE_STORAGE_CONNECTION_STRING, containerName }
    : {
        kind: 'identity',
        accountUrl: `https://${settings.AZURE_STORAGE_ACCOUNT_NAME}.blob.core.windows.net`,
        containerName,
      };
}

/** The token settings: parseConfig's, and parseJwtConfig's for tools. */
function jwtOf(settings: Pick<Settings, 'JWT_SECRET_KEY' | 'JWT_ALGORITHM'>) {
  return { secretKey: settings.JWT_SECRET_KEY, algorithm: settings.JWT_ALGORITHM };
}

/** The named settings only, with the same rules and messages as parseConfig. */
function parseSome<const K extends SettingName>(names: readonly K[], env: NodeJS.ProcessEnv) {
  const problems: string[] = [];
  const settings = {} as { [P in K]: z.output<(typeof settingsSchema.shape)[P]> };
  for (const name of names) {
    const result = settingsSchema.shape[name].safeParse(env[name]);
    if (result.success) settings[name] = result.data as (typeof settings)[K];
    else problems.push(...result.error.issues.map((issue) => `${name} ${issue.message}`));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}

function describeIssues(error: { issues: readonly $ZodIssue[] }): string[] {
  return error.issues.map((issue) => `${String(issue.path[0])} ${issue.message}`);
}

/**
 * Just the cleanup schedule: the timer's registration needs it when the app loads, before
 * (and whether or not) the rest of the settings are valid.
 */
export function parseCleanupSchedule(env: NodeJS.ProcessEnv = process.env): string {
  return parseSome(['CACHE_CLEANUP_SCHEDULE'], env).CACHE_CLEANUP_SCHEDULE;
}

/** Just the token settings, for tools that sign development tokens. */
export function parseJwtConfig(env: NodeJS.ProcessEnv = process.env): Config['jwt'] {
  return jwtOf(parseSome(['JWT_SECRET_KEY', 'JWT_ALGORITHM'], env));
}

/** Just the database setting, for tools (migrations) that need nothing else. */
export function parseDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return parseSome(['DATABASE_URL'], env).DATABASE_URL;
}
