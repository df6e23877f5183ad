import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../project-root.ts';

// The Bicep CLI, fetched the ordinary way: a restore of a one-line project file by the .NET SDK
// from NuGet (`Azure.Bicep.CommandLine.<platform>`, a self-contained `bicep` executable), once,
// into .local/bicep/ (git-ignored). No npm package ships the compiler, and azd's own download
// reaches GitHub, which these machines do not.

/** The one place the compiler's version is pinned. */
export const BICEP_VERSION = '0.49.2';

/** NuGet's runtime identifiers for the platforms the Bicep CLI is published for. */
const RUNTIME_IDS: Record<string, string> = {
  'linux-x64': 'linux-x64',
  'linux-arm64': 'linux-arm64',
  'darwin-x64': 'osx-x64',
  'darwin-arm64': 'osx-arm64',
  'win32-x64': 'win-x64',
  'win32-arm64': 'win-arm64',
};

export type BicepCli = { available: true; path: string; version: string } | { available: false; reason: string };

/** The .NET SDK without its first-run banner and telemetry. */
const DOTNET_ENV = { DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1', DOTNET_SKIP_FIRST_TIME_EXPERIENCE: '1' };

const run = (command: string, args: string[], options: { timeoutMs?: number } = {}) =>
  spawnSync(command, args, {
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, ...DOTNET_ENV },
  });

/**
 * The pinned Bicep CLI: restored from NuGet on first use, then reused. Not available (with the
 * reason in one line) where there is no .NET SDK, no package for this platform, or the restore fails.
 */
export function bicepCli(root: string = projectRoot()): BicepCli {
  const runtimeId = RUNTIME_IDS[`${process.platform}-${process.arch}`];
  if (!runtimeId)
    return { available: false, reason: `the Bicep CLI is not published for ${process.platform}-${process.arch}` };
  const packageId = `Azure.Bicep.CommandLine.${runtimeId}`;
  const home = path.join(root, '.local', 'bicep');
  const packages = path.join(home, 'packages');
  const executable = path.join(
    packages,
    packageId.toLowerCase(),
    BICEP_VERSION,
    'tools',
    process.platform === 'win32' ? 'bicep.exe' : 'bicep',
  );

  if (!existsSync(executable)) {
    const dotnet = run('dotnet', ['--version']);
    if (dotnet.error || dotnet.status !== 0)
      return { available: false, reason: 'no .NET SDK (dotnet) on PATH to restore the Bicep CLI from NuGet' };
    mkdirSync(home, { recursive: true });
    const project = path.join(home, 'bicep-cli.csproj');
    writeFileSync(
      project,
      [
        '<!-- Written by tools/infra/bicep.ts: restores the pinned Bicep CLI; nothing is built. -->',
        '<Project Sdk="Microsoft.NET.Sdk">',
        '  <PropertyGroup><TargetFramework>netstandard2.0</TargetFramework></PropertyGroup>',
        `  <ItemGroup><PackageDownload Include="${packageId}" Version="[${BICEP_VERSION}]" /></ItemGroup>`,
        '</Project>',
        '',
      ].join('\n'),
    );
    const restore = run('dotnet', ['restore', project, '--packages', packages, '--nologo', '--verbosity', 'quiet'], {
      timeoutMs: 300_000,
    });
    if (restore.status !== 0 || !existsSync(executable)) {
      const said =
        `${restore.stdout ?? ''}${restore.stderr ?? ''}`.trim().split('\n').filter(Boolean).at(-1) ??
        String(restore.error ?? '');
      return { available: false, reason: `dotnet restore of ${packageId} ${BICEP_VERSION} failed: ${said}` };
    }
  }
  if (process.platform !== 'win32') chmodSync(executable, 0o755); // NuGet does not keep the mode bits
  const version = run(executable, ['--version']);
  const match = /Bicep CLI version (\S+)/.exec(version.stdout ?? '');
  if (version.status !== 0 || !match)
    return {
      available: false,
      reason: `${executable} does not run: ${(version.stderr ?? String(version.error)).trim()}`,
    };
  return { available: true, path: executable, version: match[1]! };
}

export interface BicepDiagnostic {
  /** Relative to the folder checked, with forward slashes. */
  file: string;
  line: number;
  /** A compiler code (BCP089) or a linter rule (no-unused-params). */
  code: string;
  level: 'error' | 'warning' | 'info';
  message: string;
}

interface Sarif {
  runs: {
    results: {
      ruleId: string;
      level?: string;
      message: { text: string };
      locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[];
    }[];
  }[];
}

/** Runs the CLI with SARIF diagnostics; returns its exit status and what it found, relative to `base`. */
export function runBicep(
  cli: { path: string },
  args: string[],
  base: string,
): { status: number; diagnostics: BicepDiagnostic[]; output: string } {
  const result = run(cli.path, [...args, '--diagnostics-format', 'sarif']);
  const diagnostics: BicepDiagnostic[] = [];
  // The SARIF log is written to stderr (stdout carries --stdout output, when asked for).
  const sarifStart = (result.stderr ?? '').indexOf('{');
  if (sarifStart >= 0) {
    const sarif = JSON.parse(result.stderr.slice(sarifStart)) as Sarif;
    for (const r of sarif.runs.flatMap((run) => run.results)) {
      const location = r.locations[0]?.physicalLocation;
      const file = location
        ? path.relative(base, new URL(location.artifactLocation.uri).pathname).split(path.sep).join('/')
        : '';
      diagnostics.push({
        file,
        line: location?.region.startLine ?? 0,
        code: r.ruleId,
        // SARIF's default level is "warning"; Bicep's "Info" is SARIF's "note".
        level: r.level === 'error' ? 'error' : r.level === 'note' || r.level === 'none' ? 'info' : 'warning',
        message: r.message.text.replace(/\s*\[https:\/\/aka\.ms\/bicep\/[^\]]+\]$/, ''),
      });
    }
  }
  if (result.status === null) throw new Error(`bicep ${args[0]} did not finish: ${String(result.error)}`);
  return { status: result.status, diagnostics, output: result.stdout ?? '' };
}

export const formatDiagnostic = (d: BicepDiagnostic) => `${d.file}:${d.line} ${d.level} ${d.code}: ${d.message}`;

// `npm run bicep -- <arguments>`: the pinned CLI itself, e.g. `npm run bicep -- build infra/main.bicep --stdout`.
if (require.main === module) {
  const cli = bicepCli();
  if (!cli.available) {
    console.error(`bicep: ${cli.reason}`);
    process.exit(1);
  }
  process.exit(spawnSync(cli.path, process.argv.slice(2), { stdio: 'inherit' }).status ?? 1);
}
