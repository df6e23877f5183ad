import { createRequire } from 'node:module';
import path from 'node:path';

// KQL checked offline with Kusto's own language service (`@kusto/language-service-next`, the
// JavaScript translation of Kusto.Language): syntax, and names against the Application
// Insights tables and columns declared below, the ones this service's queries read. Loading it
// takes ~2 s and ~200 MB: load it once per test file.

/**
 * The Application Insights tables the queries use (as a query scoped to the component sees
 * them), with the columns they rely on. A query naming a column not listed here fails: add it
 * only after checking it exists in Application Insights.
 */
export const APPLICATION_INSIGHTS_SCHEMA: Record<string, string> = {
  traces:
    '(timestamp:datetime, message:string, severityLevel:int, customDimensions:dynamic, operation_Name:string, cloud_RoleName:string, cloud_RoleInstance:string)',
  customMetrics:
    '(timestamp:datetime, name:string, value:real, valueCount:int, valueSum:real, valueMin:real, valueMax:real, customDimensions:dynamic, cloud_RoleName:string, cloud_RoleInstance:string)',
  requests:
    '(timestamp:datetime, name:string, resultCode:string, duration:real, success:bool, customDimensions:dynamic, operation_Name:string, cloud_RoleName:string)',
  exceptions:
    '(timestamp:datetime, type:string, outerMessage:string, problemId:string, customDimensions:dynamic, operation_Name:string, cloud_RoleName:string)',
};

export interface KqlDiagnostic {
  severity: string;
  code: string;
  message: string;
  line: number;
  column: number;
}

interface KustoList<T> {
  Count: number;
  getItem(i: number): T;
}
interface KustoDiagnostic {
  Severity: string;
  Code: string;
  Message: string;
  Start: number;
}
interface KustoLanguage {
  GlobalState: { Default: { WithDatabase(database: unknown): unknown } };
  KustoCode: {
    ParseAndAnalyze(
      query: string,
      globals: unknown,
    ): {
      GetDiagnostics(): KustoList<KustoDiagnostic>;
      TryGetLineAndOffset(position: number, line: { v: number }, column: { v: number }): boolean;
    };
  };
  Symbols: {
    TableSymbol: { $ctor7: new (name: string, schema: string, description: string | null) => unknown };
    DatabaseSymbol: { ctor: new (name: string, tables: unknown[]) => unknown };
  };
}

let globals: { kusto: KustoLanguage; state: unknown } | undefined;

function load() {
  if (globals) return globals;
  const load = createRequire(path.join(__dirname, '../../package.json'));
  load('@kusto/language-service-next/bridge.js'); // the Bridge.NET runtime, first
  load('@kusto/language-service-next'); // sets globalThis.Kusto.Language
  const kusto = (globalThis as unknown as { Kusto: { Language: KustoLanguage } }).Kusto.Language;
  const { TableSymbol, DatabaseSymbol } = kusto.Symbols;
  const tables = Object.entries(APPLICATION_INSIGHTS_SCHEMA).map(
    ([name, schema]) => new TableSymbol.$ctor7(name, schema, null),
  );
  globals = {
    kusto,
    state: kusto.GlobalState.Default.WithDatabase(new DatabaseSymbol.ctor('applicationinsights', tables)),
  };
  return globals;
}

/** Every diagnostic (errors first in importance: `Error`, then `Warning`, …) of the query. */
export function kqlDiagnostics(query: string): KqlDiagnostic[] {
  const { kusto, state } = load();
  const code = kusto.KustoCode.ParseAndAnalyze(query, state);
  const list = code.GetDiagnostics();
  const found: KqlDiagnostic[] = [];
  for (let i = 0; i < list.Count; i++) {
    const d = list.getItem(i);
    const line = { v: 0 };
    const column = { v: 0 };
    code.TryGetLineAndOffset(d.Start, line, column);
    found.push({ severity: d.Severity, code: d.Code, message: d.Message, line: line.v, column: column.v });
  }
  return found;
}
