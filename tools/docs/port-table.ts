import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { projectRoot } from '../project-root.ts';
import { replaceBetween, runSectionCommand, type Markers } from './generated-section.ts';

// The table "Ports and their contract suites" of docs/architecture.md, generated from the code:
//   - a port is an exported interface of src/ports/*.ts with at least one method (the data shapes have none);
//   - its contract suite is the file of test/ports/*.contract.ts that exports `describe<Port>Contract`, and imports
//     <Port> from the port's own file;
//   - the files of test/adapters/** and test/twins/** that call that function run the suite; the name each call gives
//     the suite (its first argument, as the test runner prints it) begins with the class under test, an exported class
//     of src/adapters/** or test/twins/*.ts that implements the port.
// No counts: what the table says is what the code has.
//   npx tsx tools/docs/port-table.ts           prints the section
//   npx tsx tools/docs/port-table.ts --write   rewrites the marked section of docs/architecture.md
//   npx tsx tools/docs/port-table.ts --check   exits 1 when that section is stale

export const ARCHITECTURE_DOC = 'docs/architecture.md';
export const MARKERS: Markers = {
  start:
    '<!-- port-table: generated from src/ports/ and test/ by `npx tsx tools/docs/port-table.ts --write`; edit the code, not this table -->',
  end: '<!-- /port-table -->',
};

/** A port with no contract suite of its own: why, shown in the table. */
export interface Exception {
  port: string;
  why: string;
  /**
   * The port whose suite its implementations run instead: a run of that suite whose class implements this port is
   * listed in this port's row, and counts as the run of that class.
   */
  through?: string;
}

/** The ports that have no contract suite, on purpose. Any other port without one fails test/docs/port-table.test.ts. */
export const EXCEPTIONS: readonly Exception[] = [
  {
    port: 'ProjectBlobStores',
    why: 'none of its own: its `storeFor` answers a `BlobStore`, and such a store runs the `BlobStore` suite',
    through: 'BlobStore',
  },
];

export interface Port {
  name: string;
  /** Relative to the root, e.g. `src/ports/leases.ts`. */
  file: string;
}

export interface Contract {
  /** The port its function names: `describeLeasesContract` → `Leases`. */
  port: string;
  /** e.g. `describeLeasesContract` */
  fn: string;
  /** Relative to the root, e.g. `test/ports/leases.contract.ts`. */
  file: string;
  /** The file it imports a binding named `port` from, if any. */
  portImportedFrom: string | undefined;
}

export type Kind = 'adapters' | 'twins';

/** Where the tests of each kind are, and where their classes under test are. */
export const KINDS: Record<Kind, { tests: string; classes: string }> = {
  adapters: { tests: 'test/adapters', classes: 'src/adapters' },
  twins: { tests: 'test/twins', classes: 'test/twins' },
};

/** One call of a contract's function: a run of the suite. */
export interface Run {
  kind: Kind;
  /** The test file that makes the call, relative to the root. */
  file: string;
  /** The contract file whose function it calls. */
  contract: string;
  /** The name it gives the suite, as written (`${…}` where a template literal fills something in). */
  suite: string;
  /** The identifier the suite's name begins with: the class under test. */
  className: string;
}

export interface ClassInfo {
  kind: Kind;
  name: string;
  file: string;
  implements: string[];
}

/** What the table is derived from, read from the code. */
export interface PortCode {
  portFiles: string[];
  ports: Port[];
  contractFiles: string[];
  contracts: Contract[];
  runs: Run[];
  classes: ClassInfo[];
}

const CONTRACT_FN = /^describe(\w+)Contract$/;
const posix = (file: string) => file.split(path.sep).join('/');

/** The .ts files of `dir` (relative to root), sorted, relative to root; `recursive` for its subfolders too. */
function tsFiles(root: string, dir: string, recursive: boolean): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => posix(path.relative(root, path.join(entry.parentPath, entry.name))))
    .sort();
}

function parse(root: string, file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(path.join(root, file), 'utf8'), ts.ScriptTarget.Latest, true);
}

const isExported = (node: ts.Node) =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);

/** A relative module specifier of `file`, resolved to a file relative to root (`.ts` added when it has none). */
function resolveImport(file: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const resolved = posix(path.join(path.dirname(file), specifier));
  return resolved.endsWith('.ts') ? resolved : `${resolved}.ts`;
}

/** Each named import of `source`: the local name → the exported name and the file it comes from. */
function namedImports(source: ts.SourceFile): Map<string, { name: string; from: string }> {
  const imports = new Map<string, { name: string; from: string }>();
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    const from = resolveImport(source.fileName, statement.moduleSpecifier.text);
    const bindings = statement.importClause?.namedBindings;
    if (!from || !bindings || !ts.isNamedImports(bindings)) continue;
    for (const element of bindings.elements)
      imports.set(element.name.text, { name: (element.propertyName ?? element.name).text, from });
  }
  return imports;
}

/** Every node of `node`'s tree, depth first, in source order. */
function* descendants(node: ts.Node): Generator<ts.Node> {
  for (const child of node.getChildren()) {
    yield child;
    yield* descendants(child);
  }
}

/** The ports of a file of src/ports/: its exported interfaces with at least one method. */
function portsOf(source: ts.SourceFile): Port[] {
  return source.statements
    .filter(ts.isInterfaceDeclaration)
    .filter((node) => isExported(node) && node.members.some(ts.isMethodSignature))
    .map((node) => ({ name: node.name.text, file: source.fileName }));
}

/** The contracts of a file of test/ports/: one per exported `describe<Port>Contract` function. */
function contractsOf(source: ts.SourceFile): Contract[] {
  const imports = namedImports(source);
  const functions = source.statements.flatMap((statement) => {
    if (!isExported(statement)) return [];
    if (ts.isFunctionDeclaration(statement) && statement.name) return [statement.name.text];
    if (ts.isVariableStatement(statement))
      return statement.declarationList.declarations.flatMap((d) => (ts.isIdentifier(d.name) ? [d.name.text] : []));
    return [];
  });
  return functions.flatMap((fn) => {
    const port = CONTRACT_FN.exec(fn)?.[1];
    if (!port) return [];
    const imported = [...imports.values()].find((binding) => binding.name === port);
    return [{ port, fn, file: source.fileName, portImportedFrom: imported?.from }];
  });
}

/** The one `const name = <initializer>` of `source`, if there is exactly one. */
function constInitializer(source: ts.SourceFile, name: string): ts.Expression | undefined {
  const found = [...descendants(source)].filter(
    (node): node is ts.VariableDeclaration =>
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.name.text === name &&
      ts.isVariableDeclarationList(node.parent) &&
      (node.parent.flags & ts.NodeFlags.Const) !== 0,
  );
  return found.length === 1 ? found[0]!.initializer : undefined;
}

/** A suite's name as written: a string, a template literal (`${…}` kept), or a const holding one. */
export function suiteName(source: ts.SourceFile, node: ts.Expression, seen = new Set<string>()): string {
  if (ts.isStringLiteralLike(node)) return node.text;
  if (ts.isTemplateExpression(node))
    return (
      node.head.text +
      node.templateSpans.map((span) => `\${${span.expression.getText(source)}}${span.literal.text}`).join('')
    );
  if (ts.isIdentifier(node) && !seen.has(node.text)) {
    const initializer = constInitializer(source, node.text);
    if (initializer) return suiteName(source, initializer, seen.add(node.text));
  }
  return node.getText(source);
}

/** The runs in one test file: each call of a contract function it imports from test/ports/. */
function runsOf(source: ts.SourceFile, kind: Kind): Run[] {
  const contractFns = new Map(
    [...namedImports(source)].filter(
      ([, { name, from }]) => CONTRACT_FN.test(name) && from.startsWith('test/ports/') && from.endsWith('.contract.ts'),
    ),
  );
  return [...descendants(source)].flatMap((node) => {
    if (!ts.isCallExpression(node) || !ts.isIdentifier(node.expression)) return [];
    const fn = contractFns.get(node.expression.text);
    const first = node.arguments[0];
    if (!fn || !first) return [];
    const suite = suiteName(source, first);
    return [{ kind, file: source.fileName, contract: fn.from, suite, className: /^[\w$]+/.exec(suite)?.[0] ?? '' }];
  });
}

function classesOf(source: ts.SourceFile, kind: Kind): ClassInfo[] {
  return source.statements
    .filter(ts.isClassDeclaration)
    .filter((node) => isExported(node) && node.name)
    .map((node) => ({
      kind,
      name: node.name!.text,
      file: source.fileName,
      implements: (node.heritageClauses ?? [])
        .filter((clause) => clause.token === ts.SyntaxKind.ImplementsKeyword)
        .flatMap((clause) => clause.types.map((type) => type.expression.getText(source))),
    }));
}

export function readPortCode(root = projectRoot()): PortCode {
  const portFiles = tsFiles(root, 'src/ports', false);
  const contractFiles = tsFiles(root, 'test/ports', false).filter((file) => file.endsWith('.contract.ts'));
  const kinds = Object.keys(KINDS) as Kind[];
  return {
    portFiles,
    ports: portFiles.flatMap((file) => portsOf(parse(root, file))),
    contractFiles,
    contracts: contractFiles.flatMap((file) => contractsOf(parse(root, file))),
    runs: kinds.flatMap((kind) =>
      tsFiles(root, KINDS[kind].tests, true).flatMap((file) => runsOf(parse(root, file), kind)),
    ),
    classes: kinds.flatMap((kind) =>
      tsFiles(root, KINDS[kind].classes, true)
        .filter((file) => !file.endsWith('.test.ts'))
        .flatMap((file) => classesOf(parse(root, file), kind)),
    ),
  };
}

/** The runs that stand for `port` in its row: its suite's, or (an exception's) its implementations' runs of another. */
function runsFor(code: PortCode, port: string, exceptions: readonly Exception[]): Run[] {
  const contract = code.contracts.find((c) => c.port === port);
  if (contract) return code.runs.filter((run) => run.contract === contract.file);
  const through = exceptions.find((e) => e.port === port)?.through;
  const other = code.contracts.find((c) => c.port === through);
  if (!other) return [];
  const implementing = (run: Run) =>
    code.classes.some((c) => c.kind === run.kind && c.name === run.className && c.implements.includes(port));
  return code.runs.filter((run) => run.contract === other.file && implementing(run));
}

/** What keeps the table from being the truth about the ports: each a line saying where. */
export function problems(code: PortCode, exceptions: readonly Exception[] = EXCEPTIONS): string[] {
  const found: string[] = [];
  const portNames = new Set(code.ports.map((p) => p.name));
  for (const file of code.portFiles)
    if (!code.ports.some((p) => p.file === file)) found.push(`${file}: no port (an exported interface with a method)`);
  for (const file of code.contractFiles) {
    const fns = code.contracts.filter((c) => c.file === file).map((c) => c.fn);
    if (fns.length !== 1)
      found.push(`${file}: exports ${fns.join(', ') || 'no describe<Port>Contract'} (one expected)`);
  }
  for (const contract of code.contracts) {
    const port = code.ports.find((p) => p.name === contract.port);
    if (!port) found.push(`${contract.file}: ${contract.fn} names no port of src/ports/`);
    else if (contract.portImportedFrom !== port.file)
      found.push(`${contract.file}: does not import ${port.name} from ${port.file}`);
  }
  for (const port of code.ports) {
    const contracts = code.contracts.filter((c) => c.port === port.name);
    const exception = exceptions.find((e) => e.port === port.name);
    if (contracts.length > 1)
      found.push(`${port.name}: more than one contract suite (${contracts.map((c) => c.file).join(', ')})`);
    if (contracts.length === 0 && !exception)
      found.push(`${port.name} (${port.file}): no contract suite in test/ports/, and no exception in EXCEPTIONS`);
    if (contracts.length > 0 && exception)
      found.push(`${port.name}: listed in EXCEPTIONS but has a contract suite (${contracts[0]!.file})`);
    if (contracts.length === 0) continue;
    for (const kind of Object.keys(KINDS) as Kind[])
      if (!code.runs.some((run) => run.kind === kind && run.contract === contracts[0]!.file))
        found.push(`${port.name} (${contracts[0]!.file}): run by no test of ${KINDS[kind].tests}/`);
  }
  for (const exception of exceptions) {
    if (!portNames.has(exception.port)) found.push(`EXCEPTIONS: ${exception.port} is no port of src/ports/`);
    if (exception.through && !code.contracts.some((c) => c.port === exception.through))
      found.push(`EXCEPTIONS: ${exception.port} runs through ${exception.through}, which has no contract suite`);
  }
  for (const run of code.runs) {
    const contract = code.contracts.find((c) => c.file === run.contract);
    const tested = code.classes.find((c) => c.kind === run.kind && c.name === run.className);
    if (!tested)
      found.push(
        `${run.file}: the suite ${JSON.stringify(run.suite)} does not begin with a class of ${KINDS[run.kind].classes}/`,
      );
    else if (contract && !implementsFor(tested, contract.port, exceptions))
      found.push(`${run.file}: ${tested.name} runs the ${contract.port} suite but does not implement ${contract.port}`);
  }
  for (const cls of code.classes)
    for (const port of cls.implements.filter((name) => portNames.has(name)))
      if (!runsFor(code, port, exceptions).some((run) => run.kind === cls.kind && run.className === cls.name))
        found.push(`${cls.file}: ${cls.name} implements ${port} but runs no contract suite for it`);
  return found;
}

/** A class may run a port's suite when it implements the port, or a port that runs through it. */
function implementsFor(cls: ClassInfo, port: string, exceptions: readonly Exception[]): boolean {
  return cls.implements.some((name) => name === port || exceptions.some((e) => e.port === name && e.through === port));
}

/** `text` as a code span that survives a table cell. */
const span = (text: string) => {
  const fence = text.includes('`') ? '``' : '`';
  const pad = fence === '``' ? ' ' : '';
  return `${fence}${pad}${text.replace(/\|/g, '\\|')}${pad}${fence}`;
};

/** A cell of runs: each test file (relative to the kind's folder), then the suite names it gives. */
function runsCell(runs: Run[], kind: Kind, suffix: string): string {
  const files = [...new Set(runs.filter((run) => run.kind === kind).map((run) => run.file))];
  if (files.length === 0) return 'none';
  return files
    .map((file) => {
      const suites = [...new Set(runs.filter((run) => run.file === file).map((run) => span(run.suite)))];
      return `${span(path.posix.relative(KINDS[kind].tests, file))}: ${suites.join(', ')}${suffix}`;
    })
    .join('; ');
}

export function renderPortTable(portCode: PortCode, exceptions: readonly Exception[] = EXCEPTIONS): string {
  const rows = portCode.ports.map((port) => {
    const contract = portCode.contracts.find((c) => c.port === port.name);
    const exception = exceptions.find((e) => e.port === port.name);
    const runs = runsFor(portCode, port.name, exceptions);
    const suffix = !contract && exception?.through ? ` (the ${span(exception.through)} suite)` : '';
    const suite = contract
      ? span(path.posix.relative('test/ports', contract.file))
      : exception
        ? exception.why
        : '**none**';
    return `| ${span(port.name)} | ${span(path.posix.relative('src/ports', port.file))} | ${suite} | ${runsCell(
      runs,
      'adapters',
      suffix,
    )} | ${runsCell(runs, 'twins', suffix)} |`;
  });
  return [
    MARKERS.start,
    '',
    'A port is an exported interface of `src/ports/` with a method. Each has one contract suite in `test/ports/` (the',
    'file that exports `describe<Port>Contract`), or the table says why it has none. A suite is run by the tests of',
    'the real adapters in `test/adapters/` and of the in-memory twin in `test/twins/`, so the twin is proven to behave',
    'like the real thing before the use-case unit tests rely on it. A run is named as the test runner shows it: the',
    'class under test, then what it runs on; a `${…}` is filled in by the test (`${shape}`: each of',
    '`DATABASE_SHAPES`, `test/support/khipu-database.ts`).',
    '`test/docs/port-table.test.ts` fails while this table is stale, a port has no suite and no reason given',
    '(`EXCEPTIONS` in `tools/docs/port-table.ts`), a suite is run by no real adapter or no twin, or an adapter or',
    'twin of a port runs no suite for it.',
    '',
    '| port | defined in (`src/ports/`) | contract suite (`test/ports/`) | real adapters (`test/adapters/`) | twins (`test/twins/`) |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    MARKERS.end,
  ].join('\n');
}

/** `doc` with its port-table section replaced by `section`. */
export function replaceSection(doc: string, section: string): string {
  return replaceBetween(doc, MARKERS, section);
}

if (require.main === module) {
  const root = projectRoot();
  const portCode = readPortCode(root);
  const found = problems(portCode);
  if (found.length > 0) console.error(`the ports and their suites do not hold:\n  ${found.join('\n  ')}`);
  runSectionCommand({
    root,
    file: ARCHITECTURE_DOC,
    markers: MARKERS,
    section: renderPortTable(portCode),
    what: 'the port table (from src/ports/ and test/)',
    command: 'npx tsx tools/docs/port-table.ts --write',
  });
  if (found.length > 0) process.exitCode = 1;
}
