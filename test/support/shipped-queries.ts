import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { docFiles, readDoc } from './docs.ts';
import { root } from './repo.ts';

// Every KQL query this repository ships, where it lives: the ```kql blocks of the documentation
// (README.md and docs/*.md), the alert
// queries (infra/monitoring/alerts/*.kql, one file per alert of infra/modules/alerts.bicep) and
// the workbook's (infra/monitoring/workbook.json).

export function filesUnder(dir: string, extension: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(full, extension);
    return entry.name.endsWith(extension) ? [full] : [];
  });
}

export interface ShippedQuery {
  /** Where it lives, e.g. `docs/operations.md #2`, `infra/monitoring/alerts/hit-ratio.kql`, `workbook: tenants`. */
  source: string;
  query: string;
}

/** The ```kql blocks of README.md and docs/*.md. */
export function docsQueries(): ShippedQuery[] {
  return docFiles().flatMap((file) =>
    [...readDoc(file).matchAll(/```kql\n([\s\S]*?)```/g)].map((m, i) => ({
      source: `${file} #${i + 1}`,
      query: m[1]!,
    })),
  );
}

export function alertQueries(): ShippedQuery[] {
  return filesUnder(path.join(root, 'infra/monitoring/alerts'), '.kql').map((file) => ({
    source: path.relative(root, file),
    query: readFileSync(file, 'utf8'),
  }));
}

/** The workbook's queries, its parameters given sample values (the portal substitutes them before running). */
export function workbookQueries(): ShippedQuery[] {
  const workbook = JSON.parse(readFileSync(path.join(root, 'infra/monitoring/workbook.json'), 'utf8')) as {
    items: { type: number; name: string; content: { query?: string } }[];
  };
  return workbook.items
    .filter((item) => item.type === 3)
    .map((item) => ({
      source: `workbook: ${item.name}`,
      query: item.content.query!.replaceAll('{PricePerMillionChars}', '16'),
    }));
}

export function shippedQueries(): ShippedQuery[] {
  return [...docsQueries(), ...alertQueries(), ...workbookQueries()];
}
