import { spawn } from 'node:child_process';
import type { ArmTemplate } from '../../tools/infra/check.ts';

// Evaluating main.bicep's own variables, as written, with the Bicep CLI's expression evaluator
// (`bicep console`), for parameters a test chooses: what a deployment would compute, including a
// `fail()`, without one. The console knows no `param`, so each parameter the variable needs is
// declared as a `var` holding its value (the test's, or the template's default).

/** A variable's value (as the console prints it, a Bicep literal), or the message its `fail()` raised. */
export type Evaluation = { value: string } | { failed: string };

/** Top-level `var` declarations of a Bicep file, by name, each as one input for the console. */
export function variablesOf(source: string): Map<string, string> {
  const lines = source.split('\n');
  const found = new Map<string, string>();
  for (let i = 0; i < lines.length; i++) {
    const name = /^var (\w+) =/.exec(lines[i]!)?.[1];
    if (!name) continue;
    const body = [lines[i]!];
    // Indented lines, and a closing bracket at column 0, continue the declaration.
    while (i + 1 < lines.length && /^(\s+\S|[}\]])/.test(lines[i + 1]!)) body.push(lines[++i]!);
    // The console reads a line as complete when it parses: keep a ternary's ? and : on one line.
    found.set(name, body.join('\n').replace(/\n\s*(?=[?:])/g, ' '));
  }
  return found;
}

/** A JSON value as a Bicep literal (strings, numbers, booleans: what main.bicep's parameters hold). */
function literal(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string')
    return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\$\{/g, '\\${')}'`;
  throw new Error(`no Bicep literal for ${JSON.stringify(value)}`);
}

/** One evaluation: the variable `name` of `source` (main.bicep's text), for these parameters. */
export interface Case {
  source: string;
  name: string;
  /** Parameters of main.bicep; the others keep the compiled template's defaults. */
  parameters?: Record<string, unknown>;
}

/** The console's input for one case (declarations, then the expression), and the expression it ends with. */
function inputFor(
  template: ArmTemplate,
  { source, name, parameters = {} }: Case,
): { lines: string[]; expression: string } {
  const declared = variablesOf(source);
  const target = declared.get(name);
  if (!target) throw new Error(`main.bicep declares no variable ${name}`);
  for (const key of Object.keys(parameters))
    if (!(key in template.parameters)) throw new Error(`main.bicep declares no parameter ${key}`);

  // Everything the expression reads, transitively, in the order main.bicep declares it. Words
  // inside string literals are text, but for their interpolations.
  const needed = new Set<string>();
  const code = (text: string) =>
    text.replace(/'(?:[^'\\]|\\.)*'/g, (s) => [...s.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]).join(' '));
  const visit = (text: string) => {
    for (const [word] of code(text).matchAll(/\b[A-Za-z_]\w*\b/g)) {
      if (needed.has(word)) continue;
      if (declared.has(word) && word !== name) {
        needed.add(word);
        visit(declared.get(word)!);
      } else if (word in template.parameters) needed.add(word);
    }
  };
  visit(target);

  const lines: string[] = [];
  for (const parameter of Object.keys(template.parameters).filter((p) => needed.has(p))) {
    const value = parameter in parameters ? parameters[parameter] : template.parameters[parameter]!.defaultValue;
    lines.push(`var ${parameter} = ${literal(value)}`);
  }
  for (const [variable, text] of declared) if (needed.has(variable)) lines.push(text);
  const expression = target.replace(/^var \w+ =\s*/, '').replace(/\n\s*/g, ' ');
  lines.push(expression);
  return { lines, expression };
}

/**
 * Evaluates each case's variable in one console session (a later `var` replaces an earlier one of the same name, and
 * the console starts in about 2 s). The variable's own expression is what is evaluated, so a `fail()` in it reports its
 * message (one inside a variable it reads would not: the console reports those as an unhandled `variables` call).
 */
export async function evaluateVariables(
  cli: { path: string },
  template: ArmTemplate,
  cases: Case[],
): Promise<Evaluation[]> {
  const inputs = cases.map((c) => inputFor(template, c));
  const run = await consoleRun(cli.path, [...inputs.flatMap((i) => i.lines), ''].join('\n'));
  if (run.status !== 0) throw new Error(`bicep console exited ${run.status}: ${run.stderr}`);
  // Declarations print nothing. Each expression prints its value on one line, or itself and
  // `~~~ Failed to evaluate expression "…": message` below it. Anything else is the helper's error.
  const output = run.stdout.trimEnd().split('\n');
  const results: Evaluation[] = [];
  let at = 0;
  for (const { expression } of inputs) {
    const line = output[at] ?? '';
    const failure = `Failed to evaluate expression "${expression}": `;
    const next = output[at + 1] ?? '';
    const cut = next.indexOf(failure);
    if (line === expression && cut >= 0 && /^~+ $/.test(next.slice(0, cut))) {
      results.push({ failed: next.slice(cut + failure.length) });
      at += 2;
    } else if (line !== '' && !line.startsWith('~') && !(output[at + 1] ?? '').startsWith('~')) {
      results.push({ value: line });
      at += 1;
    } else throw new Error(`bicep console did not evaluate ${expression.slice(0, 80)}…:\n${run.stdout}`);
  }
  if (at !== output.length) throw new Error(`bicep console said more than expected:\n${run.stdout}`);
  return results;
}

/** One case of `evaluateVariables`. */
export async function evaluateVariable(
  cli: { path: string },
  source: string,
  template: ArmTemplate,
  name: string,
  parameters: Record<string, unknown> = {},
): Promise<Evaluation> {
  const [result] = await evaluateVariables(cli, template, [{ source, name, parameters }]);
  return result!;
}

/** One `bicep console` session fed `input`; asynchronous, so that a test's cases run side by side. */
function consoleRun(path: string, input: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, ['console'], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** The text of a string literal the console printed: `'a\'b'` → `a'b`. */
export function stringValue(evaluation: Evaluation): string {
  if (!('value' in evaluation)) throw new Error(`failed: ${evaluation.failed}`);
  const m = /^'(.*)'$/s.exec(evaluation.value);
  if (!m) throw new Error(`not a string: ${evaluation.value}`);
  return m[1]!.replace(/\\(.)/g, '$1');
}
