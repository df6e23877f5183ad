import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../project-root.ts';
import { bicepCli, formatDiagnostic, runBicep, type BicepDiagnostic } from './bicep.ts';

// `npm run infra:check`, and the first thing test/infra/bicep.test.ts does: the real Bicep
// compiler and linter over infra/, and infra/main.parameters.json against the compiled template.
// What passes: no error; no warning but those infra/README.md lists (file and code) with why
// each stays. `use-recent-api-versions` counts days from today, so it is reported for review and
// never fails a run: the suite is green on any day.

/** The linter rule whose verdict depends on the date it runs. */
export const DATE_DEPENDENT_RULE = 'use-recent-api-versions';

/** An ARM template as the compiler writes it (languageVersion 1.0: resources as an array). */
export interface ArmTemplate {
  parameters: Record<string, { type: string; defaultValue?: unknown; allowedValues?: unknown[] }>;
  variables?: Record<string, unknown>;
  resources: ArmResource[];
  outputs?: Record<string, { type: string; value: unknown }>;
}
export interface ArmResource {
  type: string;
  apiVersion: string;
  name: string;
  condition?: unknown;
  scope?: string;
  copy?: { name: string; count: unknown };
  properties?: Record<string, unknown> & { template?: ArmTemplate; parameters?: Record<string, { value: unknown }> };
  [key: string]: unknown;
}

export interface InfraCheck {
  version: string;
  /** infra/main.bicep compiled. */
  template: ArmTemplate;
  /** Every diagnostic of the compile and of the lint, once each. */
  diagnostics: BicepDiagnostic[];
  /** Warnings infra/README.md accepts. */
  accepted: BicepDiagnostic[];
  /** `use-recent-api-versions`: to look at, not to fail on. */
  review: BicepDiagnostic[];
  /** Anything here fails the check. */
  problems: string[];
}

/** The `.bicep` files under a folder, relative to it. */
export function bicepFilesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.bicep'))
    .map((f) => f.split(path.sep).join('/'))
    .sort();
}

/** The warnings infra/README.md accepts: rows of its "Compiler and linter warnings left" table. */
export function acceptedWarnings(readme: string): { file: string; code: string }[] {
  const start = readme.indexOf('## Compiler and linter warnings left');
  if (start < 0) return [];
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^\| `([^`]+\.bicep)` \| `([^`]+)` \|/gm)].map((m) => ({ file: m[1]!, code: m[2]! }));
}

/**
 * Compiles infra/main.bicep (and any file no other file uses as a module) to ARM JSON, lints
 * every file, and checks the parameter file. `outFile` receives the compiled main template.
 */
export function checkInfra(options: {
  infraDir?: string;
  outFile?: string;
  cli: { path: string; version: string };
}): InfraCheck {
  const infraDir = options.infraDir ?? path.join(projectRoot(), 'infra');
  const outFile = options.outFile ?? path.join(projectRoot(), '.local', 'bicep', 'main.json');
  mkdirSync(path.dirname(outFile), { recursive: true });
  const files = bicepFilesUnder(infraDir);
  const problems: string[] = [];
  const seen = new Map<string, BicepDiagnostic>();
  const collect = (diagnostics: BicepDiagnostic[]) => {
    for (const d of diagnostics) seen.set(`${d.file}:${d.line}:${d.code}:${d.message}`, d);
  };

  const build = runBicep(options.cli, ['build', path.join(infraDir, 'main.bicep'), '--outfile', outFile], infraDir);
  collect(build.diagnostics);
  if (build.status !== 0 || !existsSync(outFile))
    problems.push(`bicep build infra/main.bicep failed (exit ${build.status})`);

  // Files nothing uses as a module are compiled on their own (main.bicep is one of them).
  const used = new Set(
    files.flatMap((file) =>
      [...readFileSync(path.join(infraDir, file), 'utf8').matchAll(/^\s*module\s+\w+\s+'([^']+\.bicep)'/gm)].map((m) =>
        path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]!)),
      ),
    ),
  );
  for (const file of files.filter((f) => f !== 'main.bicep' && !used.has(f))) {
    const alone = runBicep(options.cli, ['build', path.join(infraDir, file), '--stdout'], infraDir);
    collect(alone.diagnostics);
    if (alone.status !== 0) problems.push(`bicep build infra/${file} failed (exit ${alone.status})`);
  }

  const lint = runBicep(options.cli, ['lint', '--pattern', path.join(infraDir, '**', '*.bicep')], infraDir);
  collect(lint.diagnostics);
  if (lint.status !== 0 && ![...seen.values()].some((d) => d.level === 'error'))
    problems.push(`bicep lint failed (exit ${lint.status})`);

  const diagnostics = [...seen.values()].sort(
    (a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.code.localeCompare(b.code),
  );
  const readmePath = path.join(infraDir, 'README.md');
  const allowed = acceptedWarnings(existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : '');
  const isAccepted = (d: BicepDiagnostic) => allowed.some((a) => a.file === d.file && a.code === d.code);
  const review = diagnostics.filter((d) => d.code === DATE_DEPENDENT_RULE && d.level !== 'error');
  const accepted = diagnostics.filter((d) => d.level === 'warning' && d.code !== DATE_DEPENDENT_RULE && isAccepted(d));
  for (const d of diagnostics) {
    if (d.level === 'error') problems.push(formatDiagnostic(d));
    else if (d.level === 'warning' && d.code !== DATE_DEPENDENT_RULE && !isAccepted(d)) {
      problems.push(`${formatDiagnostic(d)} (not listed in infra/README.md, "Compiler and linter warnings left")`);
    }
  }
  for (const a of allowed) {
    if (!accepted.some((d) => d.file === a.file && d.code === a.code))
      problems.push(`infra/README.md accepts ${a.code} in ${a.file}, which no longer occurs: drop the row`);
  }

  const compiled = build.status === 0 && existsSync(outFile);
  const template = compiled
    ? (JSON.parse(readFileSync(outFile, 'utf8')) as ArmTemplate)
    : ({ parameters: {}, resources: [] } as ArmTemplate);
  const parameterFile = path.join(infraDir, 'main.parameters.json');
  if (compiled && existsSync(parameterFile))
    problems.push(
      ...checkParameterFile(
        JSON.parse(readFileSync(parameterFile, 'utf8')) as Parameters<typeof checkParameterFile>[0],
        template,
      ),
    );

  return { version: options.cli.version, template, diagnostics, accepted, review, problems };
}

/**
 * azd's parameter file against the compiled template: every name exists, every parameter with no
 * default is supplied, and every `${VAR=default}` default fits the parameter's type and allowed values.
 */
export function checkParameterFile(
  file: { parameters?: Record<string, { value?: unknown }> },
  template: ArmTemplate,
): string[] {
  const problems: string[] = [];
  const supplied = file.parameters ?? {};
  for (const [name, { value }] of Object.entries(supplied)) {
    const declared = template.parameters[name];
    if (!declared) {
      problems.push(`main.parameters.json sets ${name}, which main.bicep does not declare`);
      continue;
    }
    const fallback = typeof value === 'string' ? /^\$\{[A-Z][A-Z0-9_]*=([^}]*)\}$/.exec(value)?.[1] : undefined;
    if (fallback === undefined) continue;
    const type = declared.type.toLowerCase().replace(/^secure/, '');
    const typed =
      type === 'int'
        ? /^-?\d+$/.test(fallback)
          ? Number(fallback)
          : undefined
        : type === 'bool'
          ? ({ true: true, false: false } as Record<string, boolean>)[fallback]
          : fallback;
    if (typed === undefined)
      problems.push(`main.parameters.json: ${name}'s default "${fallback}" is not of its type, ${declared.type}`);
    else if (declared.allowedValues && !declared.allowedValues.includes(typed))
      problems.push(`main.parameters.json: ${name}'s default "${fallback}" is not one of its allowed values`);
  }
  for (const [name, declared] of Object.entries(template.parameters)) {
    if (declared.defaultValue === undefined && !(name in supplied))
      problems.push(`main.bicep requires ${name}, which main.parameters.json does not supply`);
  }
  return problems;
}

if (require.main === module) {
  const cli = bicepCli();
  if (!cli.available) {
    const required = process.env.CI === 'true';
    console[required ? 'error' : 'log'](`infra:check: ${required ? 'failed' : 'skipped'}: ${cli.reason}`);
    process.exit(required ? 1 : 0);
  }
  const result = checkInfra({ cli });
  const count = (level: string) => result.diagnostics.filter((d) => d.level === level).length;
  console.log(
    `infra:check: Bicep CLI ${result.version}: compiled infra/main.bicep to .local/bicep/main.json, linted ${bicepFilesUnder(path.join(projectRoot(), 'infra')).length} files: ` +
      `${count('error')} errors, ${count('warning')} warnings (${result.accepted.length} accepted in infra/README.md, ${result.review.length} to review: ${DATE_DEPENDENT_RULE})`,
  );
  for (const d of result.accepted) console.log(`  accepted: ${formatDiagnostic(d)}`);
  for (const d of result.review) console.log(`  review: ${formatDiagnostic(d)}`);
  for (const problem of result.problems) console.error(`  problem: ${problem}`);
  process.exit(result.problems.length > 0 ? 1 : 0);
}
