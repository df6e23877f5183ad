import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, SETTING_NAMES } from '../src/config.ts';
import { allDocs } from './support/docs.ts';
import { root } from './support/repo.ts';

// What `func start` needs to find the app, and the settings operators and newcomers read about.
// (host.json is checked where it ships, in test/tools/package.test.ts; the layout table of
// docs/architecture.md in test/docs/layer-map.test.ts.)
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const json = (file: string) => JSON.parse(read(file));

describe('Functions app layout', () => {
  it('points package.json main at where tsc writes every trigger file', () => {
    const { compilerOptions } = json('tsconfig.json');
    expect(compilerOptions).toMatchObject({ outDir: 'dist', rootDir: '.', module: 'node20' });
    expect(json('package.json').main).toBe('dist/src/functions/*.js');
    const triggers = readdirSync(path.join(root, 'src/functions')).filter((f) => f.endsWith('.ts'));
    expect(triggers).toContain('health.ts');
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

  it('documents every setting src/config.ts reads in README.md or docs/', () => {
    const docs = allDocs();
    expect(SETTING_NAMES.filter((name) => !docs.includes(`\`${name}\``))).toEqual([]);
  });
});
