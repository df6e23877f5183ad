import { readFile } from 'node:fs/promises';
import { splitOrigins } from './cors.ts';

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

/** Like Core Tools: a setting from the file applies unless the environment already has it. */
export function applyLocalSettings(values: Record<string, string>, env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, value] of Object.entries(values)) {
    if (env[name] === undefined) env[name] = value;
  }
}
