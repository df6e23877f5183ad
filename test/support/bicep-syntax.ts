import { createRequire } from 'node:module';
import path from 'node:path';
import { Language, Parser, type Node } from 'web-tree-sitter';

// Bicep's syntax checked offline: tree-sitter's Bicep grammar (`tree-sitter-bicep`, its
// prebuilt WebAssembly) run by `web-tree-sitter`. It catches what does not parse (a missing
// value, an unclosed brace or string); not types, API versions or property names.

const grammar = createRequire(path.join(__dirname, '../../package.json')).resolve('tree-sitter-bicep/tree-sitter-bicep.wasm');
let parser: Promise<Parser> | undefined;

function getParser(): Promise<Parser> {
  parser ??= (async () => {
    await Parser.init();
    const created = new Parser();
    created.setLanguage(await Language.load(grammar));
    return created;
  })();
  return parser;
}

export interface BicepSyntaxError {
  /** `ERROR`, or `MISSING <what>`. */
  kind: string;
  /** 1-based; the grammar runs over line ends, so the fault may be on the line before. */
  line: number;
  column: number;
  endLine: number;
  text: string;
}

export async function bicepSyntaxErrors(source: string): Promise<BicepSyntaxError[]> {
  const tree = (await getParser()).parse(source);
  if (!tree) throw new Error('tree-sitter returned no tree');
  const errors: BicepSyntaxError[] = [];
  const walk = (node: Node) => {
    if (node.type === 'ERROR' || node.isMissing) {
      errors.push({
        kind: node.isMissing ? `MISSING ${node.type}` : 'ERROR',
        line: node.startPosition.row + 1,
        column: node.startPosition.column + 1,
        endLine: node.endPosition.row + 1,
        text: source.slice(node.startIndex, node.endIndex).slice(0, 60),
      });
    }
    if (node.hasError) for (const child of node.children) if (child) walk(child);
  };
  walk(tree.rootNode);
  tree.delete();
  return errors;
}
