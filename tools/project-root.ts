import { existsSync } from 'node:fs';
import path from 'node:path';

/** The repository's root (the folder with host.json), whether run from tools/ (tsx) or dist/tools/ (built). */
export function projectRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'host.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`host.json not found above ${from}`);
  }
}
