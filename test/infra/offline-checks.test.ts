import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bicepSyntaxErrors } from '../support/bicep-syntax.ts';
import { kqlDiagnostics } from '../support/kql.ts';
import { alertDefinitions, alertQueries, filesUnder, readmeQueries, root, workbookQueries } from '../support/shipped-queries.ts';

// Every KQL query this repository ships (the README's, and infra/monitoring's) parsed by Kusto's
// language service against the Application Insights tables it reads, and every Bicep file parsed
// by tree-sitter's Bicep grammar. What these cannot catch: a query that is valid but reads the
// wrong thing (test/infra/monitoring.test.ts feeds it the app's real lines), Bicep types, API
// versions and property names (`az deployment sub what-if` is the check for those).

const errorsOf = (query: string) => kqlDiagnostics(query).filter((d) => d.severity === 'Error');

describe('KQL, checked by Kusto’s language service', () => {
  it('catches what it is here for: a syntax error, an unknown table, an unknown column', () => {
    expect(errorsOf('traces | where').map((d) => d.code)).toContain('KS006');
    expect(errorsOf('tracez | take 1')).not.toEqual([]);
    expect(errorsOf("traces | where messages startswith 'x'")).not.toEqual([]);
    expect(errorsOf("traces | where message startswith 'x' | take 1")).toEqual([]);
  });

  it.each(readmeQueries().map(({ source, query }) => [source, query] as const))('%s parses, naming only known tables and columns', (_source, query) => {
    expect(errorsOf(query)).toEqual([]);
  });
});

describe('the monitoring that azd up provisions (infra/monitoring)', () => {
  it.each(alertQueries().map(({ source, query }) => [source, query] as const))('%s parses, naming only known tables and columns', (_source, query) => {
    expect(errorsOf(query)).toEqual([]);
  });

  it.each(workbookQueries().map(({ source, query }) => [source, query] as const))('the %s query parses', (_source, query) => {
    expect(errorsOf(query)).toEqual([]);
  });

  it('provisions one alert per query file, each loading its own and measuring a column its query outputs', () => {
    const alerts = alertDefinitions();
    expect(alerts.map((a) => a.file).sort()).toEqual(alertQueries().map((q) => q.source));
    for (const alert of alerts) {
      expect(alert.file, alert.name).toBe(`infra/monitoring/alerts/${alert.name}.kql`);
      expect(readFileSync(path.join(root, alert.file), 'utf8'), alert.name).toMatch(new RegExp(`\\b${alert.column}\\s*=`));
    }
  });
});

describe('Bicep, checked by tree-sitter’s Bicep grammar', () => {
  it('catches what it is here for: a missing value, an unclosed object', async () => {
    expect(await bicepSyntaxErrors("param location string =\nparam name string = 'x'\n")).not.toEqual([]);
    expect(await bicepSyntaxErrors("resource x 'A/b@2020-01-01' = {\n  name: 'x'\n")).not.toEqual([]);
    expect(await bicepSyntaxErrors("param location string = 'westeurope'\n")).toEqual([]);
  });

  it.each(filesUnder(path.join(root, 'infra'), '.bicep').map((file) => [path.relative(root, file), file] as const))('%s parses', async (_name, file) => {
    expect(await bicepSyntaxErrors(readFileSync(file, 'utf8'))).toEqual([]);
  });
});
