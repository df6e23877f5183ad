import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { projectRoot } from '../project-root.ts';
import { replaceBetween, runSectionCommand } from './generated-section.ts';

// The layout table of docs/architecture.md, generated from the one layer map (layers.json), which
// eslint.config.mjs also reads for its import-boundary rules.
//   npx tsx tools/docs/layer-map.ts           prints the table
//   npx tsx tools/docs/layer-map.ts --write   rewrites the marked section of docs/architecture.md
//   npx tsx tools/docs/layer-map.ts --check   exits 1 when that section is stale

export interface Layer {
  folder: string;
  layer: string;
  for: string;
  /** The other folders of the map this one may import; `*` for any. */
  mayImport: string[] | '*';
  /** Any folder may import a shared one. */
  shared?: boolean;
  /** Why the boundary holds: ESLint's message when an import crosses it. */
  why?: string;
}

export interface LayerMap {
  direction: string;
  layers: Layer[];
  modules: { for: string };
}

export const LAYER_MAP_FILE = 'layers.json';
export const ARCHITECTURE_DOC = 'docs/architecture.md';
export const START =
  '<!-- layer-map: generated from layers.json by `npx tsx tools/docs/layer-map.ts --write`; edit layers.json, not this table -->';
export const END = '<!-- /layer-map -->';

export function readLayerMap(root = projectRoot()): LayerMap {
  return JSON.parse(readFileSync(path.join(root, LAYER_MAP_FILE), 'utf8')) as LayerMap;
}

/** The folders of src/ (each must be a layer of the map). */
export function srcFolders(root = projectRoot()): string[] {
  return readdirSync(path.join(root, 'src'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/** Every `file.ts` / `file.json` / `folder/` the map names in backticks that does not exist where it says. */
export function missingFiles(map: LayerMap, root = projectRoot()): string[] {
  const named = (text: string, dir: string) =>
    [...text.matchAll(/`([\w.-]+(?:\.ts|\.json|\/))`/g)]
      .map((m) => path.join(dir, m[1]!))
      .filter((file) => !existsSync(path.join(root, file)));
  return [
    ...map.layers.flatMap((layer) => named(layer.for, path.join('src', layer.folder))),
    ...named(map.modules.for, 'src'),
  ];
}

/**
 * The folder → folder imports of src/ as the code has them: every import, `export … from` and `import()` of
 * every .ts file in a folder of src/ (src/generated/ left out), resolved to the folder of src/ it reaches, with
 * the files that make each edge. Imports within a folder, of the modules src/*.ts and of packages are not edges.
 */
export function importEdges(root = projectRoot()): Map<string, Map<string, string[]>> {
  const src = path.join(root, 'src');
  const edges = new Map<string, Map<string, string[]>>();
  const files = readdirSync(src, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
  for (const file of files) {
    const [from, ...inside] = path.relative(src, file).split(path.sep);
    if (!from || inside.length === 0 || from === 'generated') continue;
    for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const [to, ...rest] = path.relative(src, path.resolve(path.dirname(file), fileName)).split(path.sep);
      if (!to || rest.length === 0 || to === from) continue;
      const targets = edges.get(from) ?? new Map<string, string[]>();
      edges.set(from, targets.set(to, [...(targets.get(to) ?? []), path.relative(root, file)]));
    }
  }
  return edges;
}

/** Imports the map does not allow: `from → to (file)`, with each file that makes the edge. */
export function forbiddenImports(map: LayerMap, edges: Map<string, Map<string, string[]>>): string[] {
  const shared = map.layers.filter((layer) => layer.shared).map((layer) => layer.folder);
  return map.layers.flatMap((layer) => {
    if (layer.mayImport === '*') return [];
    const allowed = new Set([...shared, ...layer.mayImport]);
    return [...(edges.get(layer.folder) ?? [])]
      .filter(([to]) => !allowed.has(to))
      .flatMap(([to, files]) => files.map((file) => `${layer.folder} → ${to} (${file})`));
  });
}

/** Imports the map allows that no file makes (`from → to`): each `mayImport` list is what the code uses. */
export function unusedAllowances(map: LayerMap, edges: Map<string, Map<string, string[]>>): string[] {
  return map.layers.flatMap((layer) =>
    layer.mayImport === '*' || layer.shared
      ? []
      : layer.mayImport.filter((to) => !edges.get(layer.folder)?.has(to)).map((to) => `${layer.folder} → ${to}`),
  );
}

const code = (folder: string) => `\`${folder}/\``;

export function renderLayerMap(map: LayerMap): string {
  const shared = map.layers.filter((layer) => layer.shared).map((layer) => code(layer.folder));
  const rows = map.layers.map((layer) => {
    const may =
      layer.mayImport === '*' ? 'anything in src/' : layer.mayImport.map(code).join(', ') || 'only the shared ones';
    return `| ${code(layer.folder)} | ${layer.layer} | ${layer.for} | ${may} |`;
  });
  return [
    START,
    '',
    `Dependencies run one way: **${map.direction}**. Each folder of \`src/\` may import itself, the folders`,
    `in its "may import" column, the shared ${shared.join(' and ')} and the modules \`src/*.ts\`; nothing in`,
    '`src/` imports `test/` or `tools/`. ESLint enforces it (`no-restricted-imports` per folder, derived from',
    '`layers.json` in `eslint.config.mjs`). Each "may import" list is exactly what the code imports: an',
    'allowed import no file makes fails `test/docs/layer-map.test.ts` (add it back when code needs it).',
    '',
    '| folder of `src/` | layer | what it is for | may import |',
    '|---|---|---|---|',
    ...rows,
    `| \`*.ts\` | shared modules | ${map.modules.for} | anything in src/ |`,
    '',
    END,
  ].join('\n');
}

/** `doc` with its marked section replaced by `section`. */
export function replaceSection(doc: string, section: string): string {
  return replaceBetween(doc, { start: START, end: END }, section);
}

if (require.main === module) {
  const root = projectRoot();
  runSectionCommand({
    root,
    file: ARCHITECTURE_DOC,
    markers: { start: START, end: END },
    section: renderLayerMap(readLayerMap(root)),
    what: `the layer map (from ${LAYER_MAP_FILE})`,
    command: 'npx tsx tools/docs/layer-map.ts --write',
  });
}
