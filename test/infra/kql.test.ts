import { describe, expect, it } from 'vitest';
import { kqlDiagnostics } from '../support/kql.ts';
import { alertQueries, docsQueries, workbookQueries } from '../support/shipped-queries.ts';

// Every KQL query this repository ships (the documentation's, and infra/monitoring's) parsed by Kusto's
// language service against the Application Insights tables it reads. What this cannot catch: a
// query that is valid but reads the wrong thing (test/infra/monitoring.test.ts feeds them the
// app's real lines). That the alerts and the workbook deploy these very queries is checked on the
// compiled template (test/infra/bicep.test.ts).

const errorsOf = (query: string) => kqlDiagnostics(query).filter((d) => d.severity === 'Error');

describe('KQL, checked by Kusto’s language service', () => {
  it('catches what it is here for: a syntax error, an unknown table, an unknown column', () => {
    expect(errorsOf('traces | where').map((d) => d.code)).toContain('KS006');
    expect(errorsOf('tracez | take 1')).not.toEqual([]);
    expect(errorsOf("traces | where messages startswith 'x'")).not.toEqual([]);
    expect(errorsOf("traces | where message startswith 'x' | take 1")).toEqual([]);
  });

  it.each(docsQueries().map(({ source, query }) => [source, query] as const))(
    '%s parses, naming only known tables and columns',
    (_source, query) => {
      expect(errorsOf(query)).toEqual([]);
    },
  );
});

describe('the monitoring that azd up provisions (infra/monitoring)', () => {
  it.each(alertQueries().map(({ source, query }) => [source, query] as const))(
    '%s parses, naming only known tables and columns',
    (_source, query) => {
      expect(errorsOf(query)).toEqual([]);
    },
  );

  it.each(workbookQueries().map(({ source, query }) => [source, query] as const))(
    'the %s query parses',
    (_source, query) => {
      expect(errorsOf(query)).toEqual([]);
    },
  );
});
