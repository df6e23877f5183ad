import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

export interface ServeProcess {
  process: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
}

const root = path.resolve(__dirname, '../..');

/**
 * What `npm run serve` runs after its build (`npm test` builds first), as a child process,
 * resolved once it listens. `env` is its whole environment.
 */
export function startServeProcess(env: NodeJS.ProcessEnv, cwd: string): Promise<ServeProcess> {
  const child = spawn(process.execPath, [path.join(root, 'dist/tools/serve.js')], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 30_000);
    const onExit = (code: number | null) => reject(new Error(`serve exited (${code}):\n${output}`));
    child.once('exit', onExit);
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        output += `${line}\n`;
        if (line.includes('Listening on')) {
          clearTimeout(timer);
          child.removeListener('exit', onExit);
          resolve({ process: child, output: () => output });
        }
      });
    }
  });
}
