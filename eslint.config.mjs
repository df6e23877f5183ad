// @ts-check
// Flat config: typescript-eslint type-checked rules for the TypeScript sources, plain JS rules for
// .mjs/.js, Prettier after them so that no stylistic rule fights the formatter, and then max-len on src/ (the
// one stylistic rule kept: it agrees with Prettier's printWidth).
import { readFileSync } from 'node:fs';
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'src/generated/', 'node_modules/', '.local/', 'coverage/', '.deploy/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // tsconfig.check.json is the one program that holds src/**, tools/**, test/**, vitest.config.mts
        // and prisma.config.ts; `projectService` would find tsconfig.json (src and tools only) and fall
        // back to a capped default project for test/**.
        project: './tsconfig.check.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The promise rules this config exists for: every promise is awaited, returned or `void`ed on purpose.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // A new member of a union (cache status, error kind, ...) must be handled wherever it is switched on.
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      // Kept: an async function with nothing to await is often one that forgot an `await` (off in test/**, below).
      '@typescript-eslint/require-await': 'error',
      // Kept: no-unsafe-* (assignment, member-access, argument, return, call) stop untyped JSON and `any`
      // from flowing into typed code in src/ and tools/ (off in test/**, below).
      // Kept: no-unnecessary-type-assertion — a stale `!`/`as` hides the next type change; autofixable.
      // Kept: unbound-method — a detached method that uses `this` fails only at run time (off in test/**, below).
      // Kept: no-base-to-string, restrict-plus-operands, restrict-template-expressions — "[object Object]" in
      // a message or key is a real bug.
      // Kept: preserve-caught-error (ESLint 10 recommended) — a rethrown error should carry `{ cause }`.
      // Relaxed: passing on a caught `unknown` (reject(error) in a catch) is not creating a non-Error reason.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // Relaxed: `const { SECRET: _, ...rest } = env` is the idiom for dropping a key.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    // Tests read JSON responses and fixtures as `any` on purpose and assert their shape at run time;
    // their fakes implement async interfaces without awaiting anything.
    files: ['test/**'],
    rules: {
      // Off: res.json()/JSON.parse bodies are `any` by design; expect(...) is the type check.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      // Off: `Record<string, any>` is how tests type an arbitrary JSON body.
      '@typescript-eslint/no-explicit-any': 'off',
      // Off: in-memory twins and stubs (async () => null) must be async to match the port they stand in for.
      '@typescript-eslint/require-await': 'off',
      // Off: vitest spies and factory closures are passed around detached; a false positive there.
      '@typescript-eslint/unbound-method': 'off',
      // Off: the hostile-input tests match control characters deliberately.
      'no-control-regex': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
  },
  // Dependencies run one way: triggers → handlers → use cases → ports ← adapters. The one layer map,
  // layers.json, says what each folder of src/ may import (docs/architecture.md, "Code layout", is
  // generated from it); app/services.ts, the composition root, is the one module that knows the adapters.
  ...layers(JSON.parse(readFileSync(new URL('./layers.json', import.meta.url), 'utf8'))),
  // Sizes a reader can hold (issue 28): tools/sizes.ts lists the same, counted from brace to brace.
  {
    files: ['src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }],
    },
  },
  // One composition root (issue 37): what a class needs is given to it by app/services.ts, never built where it is
  // used behind a silent default (`deps.x ?? new X()`, `?? createX()`), which would be a second, hidden wiring.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/app/services.ts', 'src/generated/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'LogicalExpression[operator="??"] > NewExpression.right',
          message: 'A dependency is given by src/app/services.ts (the composition root), not built here by default.',
        },
        {
          selector: 'LogicalExpression[operator="??"] > CallExpression.right[callee.name=/^create/]',
          message: 'A dependency is given by src/app/services.ts (the composition root), not created here by default.',
        },
      ],
    },
  },
  prettier,
  // After Prettier's config, which turns max-len off (one of its "special rules"): Prettier wraps code at its
  // printWidth (120, .prettierrc.json) but cannot wrap a comment, a string or a template literal; this rule says
  // when one of those runs past it. Only a URL or a regular expression may (neither splits without harm).
  {
    files: ['src/**/*.ts'],
    rules: {
      'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }],
    },
  },
);

/**
 * One `no-restricted-imports` block for all of src/ (never test/ or tools/), then one per folder of
 * layers.json whose `mayImport` is a list: its files may not import from the other folders of the
 * map, except the shared ones (src/<name>/), nor from test/ and tools/ at the root.
 */
function layers(map) {
  const shared = map.layers.filter((layer) => layer.shared).map((layer) => layer.folder);
  const block = (files, forbidden, why) => ({
    files: [files],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...new Set([...forbidden, 'test', 'tools'])].flatMap((folder) =>
                folder === 'test' || folder === 'tools'
                  ? [`**/../${folder}/**`]
                  : [`**/${folder}/*`, `**/${folder}/**`],
              ),
              message: `Imports run one way here: ${why}.`,
            },
          ],
        },
      ],
    },
  });
  return [
    block('src/**', [], 'deployed code never reaches into tests or tools'),
    ...map.layers
      .filter((layer) => Array.isArray(layer.mayImport))
      .map((layer) => {
        const allowed = new Set([layer.folder, ...shared, ...layer.mayImport]);
        const forbidden = map.layers.map((other) => other.folder).filter((folder) => !allowed.has(folder));
        return block(`src/${layer.folder}/**`, forbidden, layer.why);
      }),
  ];
}
