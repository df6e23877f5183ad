import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import {
  ARCHITECTURE_DOC,
  forbiddenImports,
  importEdges,
  missingFiles,
  readLayerMap,
  renderLayerMap,
  replaceSection,
  srcFolders,
  unusedAllowances,
} from '../../tools/docs/layer-map.ts';
import { readDoc, repoPath } from '../support/docs.ts';

// layers.json is the one layer map of src/: the layout table of docs/architecture.md is generated
// from it, and eslint.config.mjs derives its import rules from it.

const map = readLayerMap();

describe('the layer map (layers.json)', () => {
  it('has every folder of src/ as a layer, and no folder that is gone', () => {
    expect(map.layers.map((layer) => layer.folder).sort()).toEqual(srcFolders());
  });

  it('names only layers of the map in mayImport, and gives every restricted layer a why', () => {
    const folders = new Set(map.layers.map((layer) => layer.folder));
    for (const layer of map.layers) {
      if (layer.mayImport === '*') continue;
      expect(
        layer.mayImport.filter((folder) => !folders.has(folder) || folder === layer.folder),
        layer.folder,
      ).toEqual([]);
      expect(layer.why, layer.folder).toBeTruthy();
    }
  });

  // ESLint forbids static imports too (no-restricted-imports); this also sees dynamic import() and require(), which
  // that rule does not check.
  it('forbids every import outside mayImport: no file of src/ makes one', () => {
    expect(forbiddenImports(map, importEdges())).toEqual([]);
  });

  it('allows no import the code does not make: each mayImport lists only the folders imported', () => {
    expect(unusedAllowances(map, importEdges())).toEqual([]);
  });

  it('finds the imports the code makes (and no edge within a folder, to src/*.ts or to a package)', () => {
    const edges = importEdges();
    expect(edges.get('adapters')?.get('ports')).toContain('src/adapters/postgres/prisma-leases.ts');
    expect(edges.get('functions')?.has('app')).toBe(true);
    expect(edges.get('ports')?.has('ports')).toBe(false);
    expect([...edges.values()].flatMap((targets) => [...targets.keys()]).filter((to) => to.endsWith('.ts'))).toEqual(
      [],
    );
  });

  it('names only files that exist', () => {
    expect(missingFiles(map)).toEqual([]);
  });

  it(`is what ${ARCHITECTURE_DOC} shows (else: npx tsx tools/docs/layer-map.ts --write)`, () => {
    const doc = readDoc(ARCHITECTURE_DOC);
    expect(replaceSection(doc, renderLayerMap(map))).toBe(doc);
  });

  it('is what ESLint enforces: a file of each layer may not import the layers outside its mayImport, nor test/ or tools/', async () => {
    const eslint = new ESLint({ cwd: repoPath('.') });
    const shared = map.layers.filter((layer) => layer.shared).map((layer) => layer.folder);
    for (const layer of map.layers.filter((l) => l.folder !== 'generated')) {
      const config = await eslint.calculateConfigForFile(`src/${layer.folder}/any.ts`);
      const [, options] = config.rules['no-restricted-imports'] as [number, { patterns: { group: string[] }[] }];
      const forbidden = new Set(options.patterns.flatMap((pattern) => pattern.group));
      const allowed =
        layer.mayImport === '*' ? map.layers.map((l) => l.folder) : [layer.folder, ...shared, ...layer.mayImport];
      const expected = map.layers.map((l) => l.folder).filter((folder) => !allowed.includes(folder));
      expect([...forbidden].sort(), layer.folder).toEqual(
        [
          ...expected.flatMap((folder) => [`**/${folder}/*`, `**/${folder}/**`]),
          '**/../test/**',
          '**/../tools/**',
        ].sort(),
      );
    }
  });
});
