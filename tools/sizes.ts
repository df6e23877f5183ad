// npx tsx tools/sizes.ts: the units in src/ over 300 lines and the functions over 60 lines
// (issue 28's limits), longest first, so a change can be counted before and after.
// Generated code (src/generated/) is left out. Exits 0 either way: it reports, it does not gate.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { projectRoot } from './project-root.ts';

const MAX_UNIT_LINES = 300;
const MAX_FUNCTION_LINES = 60;

interface Sized {
  name: string;
  lines: number;
}

/** Every .ts file under `dir`, as paths relative to the project root. */
function sourceFiles(root: string, dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .filter((file) => !file.startsWith(path.join('src', 'generated')))
    .sort();
}

/** A function's name as a reader finds it: `Class.method`, `outer > inner`, or the variable it is assigned to. */
function functionName(node: ts.Node, outer: string | undefined): string {
  let own = '(anonymous)';
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name && (ts.isIdentifier(named.name) || ts.isPrivateIdentifier(named.name))) own = named.name.text;
  else if (ts.isVariableDeclaration(node.parent) && ts.isIdentifier(node.parent.name)) own = node.parent.name.text;
  else if (ts.isPropertyAssignment(node.parent) && ts.isIdentifier(node.parent.name)) own = node.parent.name.text;
  if (ts.isConstructorDeclaration(node)) own = 'constructor';
  const owner = ts.isClassLike(node.parent) ? node.parent.name?.text : undefined;
  const full = owner ? `${owner}.${own}` : own;
  return outer ? `${outer} > ${full}` : full;
}

function linesOf(source: ts.SourceFile, node: ts.Node): number {
  const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
  const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
  return end - start + 1;
}

function longFunctions(file: string, source: ts.SourceFile): Sized[] {
  const found: Sized[] = [];
  const visit = (node: ts.Node, outer: string | undefined): void => {
    let inner = outer;
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      inner = functionName(node, outer);
      const lines = linesOf(source, node);
      if (lines > MAX_FUNCTION_LINES) found.push({ name: `${file}: ${inner}`, lines });
    }
    ts.forEachChild(node, (child) => visit(child, inner));
  };
  visit(source, undefined);
  return found;
}

function main(): void {
  const root = projectRoot();
  const units: Sized[] = [];
  const functions: Sized[] = [];
  for (const file of sourceFiles(root, 'src')) {
    const text = readFileSync(path.join(root, file), 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const lines = source.getLineStarts().length - (text.endsWith('\n') ? 1 : 0);
    if (lines > MAX_UNIT_LINES) units.push({ name: file, lines });
    functions.push(...longFunctions(file, source));
  }
  const report = (title: string, rows: Sized[]) => {
    console.log(`${title}: ${rows.length}`);
    for (const row of rows.sort((a, b) => b.lines - a.lines))
      console.log(`  ${String(row.lines).padStart(4)}  ${row.name}`);
  };
  report(`units in src/ over ${MAX_UNIT_LINES} lines`, units);
  report(`functions in src/ over ${MAX_FUNCTION_LINES} lines`, functions);
}

main();
