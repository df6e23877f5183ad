import { readFile } from 'node:fs/promises';

export interface LocalSettings {
  values: Record<string, string>;
  /** Allowed browser origins (Host.CORS), as Core Tools reads them. */
  corsOrigins: string[];
  corsCredentials: boolean;
}

/** `local.settings.json` as Core Tools reads it; an absent file is no settings. */
export async function readLocalSettings(file: string): Promise<LocalSettings> {
  let parsed: { Values?: Record<string, unknown>; Host?: { CORS?: string; CORSCredentials?: boolean } };
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as typeof parsed;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { values: {}, corsOrigins: [], corsCredentials: false };
    throw new Error(`Cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed.Values ?? {})) {
    if (value !== null && value !== undefined) values[name] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return {
    values,
    corsOrigins: splitOrigins(parsed.Host?.CORS ?? ''),
    corsCredentials: parsed.Host?.CORSCredentials === true,
  };
}

/**
 * The browser origins `npm start` allows when local.settings.json names none (Host.CORS):
 * khipu-web's dev server (its Vite config: port 3000) and Vite's default (5173).
 */
export const DEV_CORS_ORIGINS = ['http://localhost:3000', 'http://localhost:5173'];

/**
 * The origins the built-in host allows: Host.CORS of local.settings.json when it names any
 * (like Core Tools), else LOCAL_HOST_CORS (comma-separated; what `npm start` passes), else none.
 */
export function corsOriginsFor(settings: LocalSettings, env: NodeJS.ProcessEnv = process.env): string[] {
  if (settings.corsOrigins.length > 0) return settings.corsOrigins;
  return splitOrigins(env.LOCAL_HOST_CORS ?? '');
}

function splitOrigins(list: string): string[] {
  return list
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
}

/** Like Core Tools: a setting from the file applies unless the environment already has it. */
export function applyLocalSettings(values: Record<string, string>, env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, value] of Object.entries(values)) {
    if (env[name] === undefined) env[name] = value;
  }
}
