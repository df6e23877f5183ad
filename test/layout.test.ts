import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, SETTING_NAMES } from '../src/config.ts';
import { allDocs, readDoc } from './support/docs.ts';
import { root } from './support/repo.ts';

// What `func start` and Azure need to find the app, and what operators and newcomers read.
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const json = (file: string) => JSON.parse(read(file));

describe('Functions app layout', () => {
  it('has the top-level files the design card fixes', () => {
    for (const entry of [
      'package.json',
      'host.json',
      'local.settings.example.json',
      'tsconfig.json',
      'src',
      'prisma',
      'test',
      'README.md',
      'docs',
      'layers.json',
    ]) {
      expect(existsSync(path.join(root, entry)), entry).toBe(true);
    }
  });

  it('points package.json main at where tsc writes every trigger file', () => {
    const { compilerOptions } = json('tsconfig.json');
    expect(compilerOptions).toMatchObject({ outDir: 'dist', rootDir: '.', module: 'node20' });
    expect(json('package.json').main).toBe('dist/src/functions/*.js');
    const triggers = readdirSync(path.join(root, 'src/functions')).filter((f) => f.endsWith('.ts'));
    expect(triggers).toContain('health.ts');
  });

  it('configures host.json for Functions v4 with the api route prefix', () => {
    const host = json('host.json');
    expect(host.version).toBe('2.0');
    expect(host.extensions.http.routePrefix).toBe('api');
  });

  it('lists every setting in local.settings.example.json with values that work locally and no secret', () => {
    const { Values } = json('local.settings.example.json');
    expect(Object.keys(Values)).toEqual(
      expect.arrayContaining([...SETTING_NAMES, 'AzureWebJobsStorage', 'FUNCTIONS_WORKER_RUNTIME']),
    );
    expect(Values.FUNCTIONS_WORKER_RUNTIME).toBe('node');
    expect(Values.AzureWebJobsStorage).toBe('UseDevelopmentStorage=true');
    expect(Values.AZURE_STORAGE_CONNECTION_STRING).toBe('UseDevelopmentStorage=true');
    expect(Values.AZURE_SPEECH_KEY).toBe('');
    expect(Values.JWT_SECRET_KEY).toMatch(/change-me/);
    expect(() => parseConfig(Values)).not.toThrow();
  });

  it('documents every setting in the docs, and the fresh-machine commands in the README, which .ci/run runs', () => {
    const docs = allDocs();
    for (const name of SETTING_NAMES) expect(docs, name).toContain(`\`${name}\``);
    const readme = readDoc('README.md');
    expect(readme).toContain('npm ci');
    expect(readme).toContain('npm test');
    const ci = read('.ci/run');
    expect(ci).toMatch(/set -euo pipefail/);
    expect(ci).toMatch(/^npm ci$/m);
    expect(ci).toMatch(/^npm test$/m);
  });

  it('names every src/ folder in the code layout of docs/architecture.md, and no folder that is gone', () => {
    const doc = readDoc('docs/architecture.md');
    const section = doc.slice(doc.indexOf('## Code layout'), doc.indexOf('<!-- /layer-map -->'));
    const named = [...section.matchAll(/^\| `([a-z-]+)\/` \|/gm)].map((m) => m[1]).sort();
    const folders = readdirSync(path.join(root, 'src'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    expect(named).toEqual(folders);
  });
});
