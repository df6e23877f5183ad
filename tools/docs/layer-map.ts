import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../project-root.ts';

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

const code = (folder: string) => `\`${folder}/\``;

export function renderLayerMap(map: LayerMap): string {
  const shared = map.layers.filter((layer) => layer.shared).map((layer) => code(layer.folder));
  const rows = map.layers.map((layer) => {
    const may = layer.mayImport === '*' ? 'anything in src/' : layer.mayImport.map(code).join(', ');
    return `| ${code(layer.folder)} | ${layer.layer} | ${layer.for} | ${may} |`;
  });
  return [
    START,
    '',
    `Dependencies run one way: **${map.direction}**. Each folder of \`src/\` may import itself, the folders`,
    `in its "may import" column, the shared ${shared.join(' and ')} and the modules \`src/*.ts\`; nothing in`,
    '`src/` imports `test/` or `tools/`. ESLint enforces it (`no-restricted-imports` per folder, derived from',
    '`layers.json` in `eslint.config.mjs`).',
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
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start === -1 || end === -1 || end < start)
    throw new Error(`${ARCHITECTURE_DOC} has no layer-map section (${START} … ${END})`);
  return doc.slice(0, start) + section + doc.slice(end + END.length);
}

if (require.main === module) {
  const root = projectRoot();
  const section = renderLayerMap(readLayerMap(root));
  const file = path.join(root, ARCHITECTURE_DOC);
  if (process.argv.includes('--write')) {
    writeFileSync(file, replaceSection(readFileSync(file, 'utf8'), section));
    console.log(`${ARCHITECTURE_DOC}: layer map written from ${LAYER_MAP_FILE}`);
  } else if (process.argv.includes('--check')) {
    const doc = readFileSync(file, 'utf8');
    if (replaceSection(doc, section) !== doc) {
      console.error(`${ARCHITECTURE_DOC}: the layer map is stale; run npx tsx tools/docs/layer-map.ts --write`);
      process.exitCode = 1;
    }
  } else {
    console.log(section);
  }
}
