import { readFileSync } from 'node:fs';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { repoPath } from './support/docs.ts';

// The lint rules that must be able to fail, tried on a file of src/ through ESLint's own API, so
// the real eslint.config.mjs applies (in its order: a rule a later block turns off is off here too).

// A file the type-checked config knows (tsconfig.check.json holds it): its text, with one line added.
const PROBE = 'src/clock.ts';
const source = readFileSync(repoPath(PROBE), 'utf8');
const eslint = new ESLint({ cwd: repoPath('.') });

/**
 * What `rule` says of `file` (the probe by default) with `line` added. Only that rule: the type-checked rules' findings
 * depend on the program ESLint could build in this process (a clean clone's first lint may not resolve every type), not
 * on the line.
 */
async function problemsWith(line: string, rule = 'max-len', file = PROBE) {
  const text = file === PROBE ? source : readFileSync(repoPath(file), 'utf8');
  const [result] = await eslint.lintText(`${text}${line}\n`, { filePath: repoPath(file) });
  return result!.messages
    .filter((message) => message.ruleId === rule || message.fatal)
    .map((message) => `${message.ruleId}: ${message.message}`);
}

// The first lint builds the type-checked program (~10 s alone, more on a busy machine).
describe('max-len on src/ (120, as Prettier prints)', { timeout: 60_000 }, () => {
  const comment = (length: number) => `// ${'x'.repeat(length - 3)}`;
  const string = (length: number) => `export const probe = '${'x'.repeat(length - 24)}';`;

  it('passes a file of src/ with a 120-character line', async () => {
    expect(comment(120)).toHaveLength(120);
    expect(await problemsWith(comment(120))).toEqual([]);
    expect(await problemsWith(string(120))).toEqual([]);
  });

  it('fails it on a 121-character line: a comment or a string, which Prettier cannot wrap', async () => {
    const tooLong = ['max-len: This line has a length of 121. Maximum allowed is 120.'];
    expect(comment(121)).toHaveLength(121);
    expect(string(121)).toHaveLength(121);
    expect(await problemsWith(comment(121))).toEqual(tooLong);
    expect(await problemsWith(string(121))).toEqual(tooLong);
  });

  it('lets a URL run past it', async () => {
    expect(await problemsWith(`// See https://example.com/${'x'.repeat(120)}`)).toEqual([]);
  });
});

describe('one composition root: no dependency built by default where it is used', { timeout: 60_000 }, () => {
  const rule = 'no-restricted-syntax';

  it('fails a file of src/ that builds or creates a dependency behind `??`', async () => {
    expect(await problemsWith('export const probe = (given?: Date) => given ?? new Date(0);', rule)).toEqual([
      `${rule}: A dependency is given by src/app/services.ts (the composition root), not built here by default.`,
    ]);
    expect(await problemsWith('export const probe = (given?: Date) => given ?? createClock();', rule)).toEqual([
      `${rule}: A dependency is given by src/app/services.ts (the composition root), not created here by default.`,
    ]);
  });

  it('passes a plain default, and the composition root itself', async () => {
    expect(await problemsWith('export const probe = (given?: number) => given ?? 4;', rule)).toEqual([]);
    const root = 'src/app/services.ts';
    expect(await problemsWith('export const probe = (given?: Date) => given ?? new Date(0);', rule, root)).toEqual([]);
  });
});
