import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ARCHITECTURE_DOC,
  EXCEPTIONS,
  MARKERS,
  problems,
  readPortCode,
  renderPortTable,
  replaceSection,
} from '../../tools/docs/port-table.ts';
import { readDoc } from '../support/docs.ts';

// The table "Ports and their contract suites" of docs/architecture.md is generated from the code
// (tools/docs/port-table.ts): the ports of src/ports/, the suites of test/ports/, and the tests of
// test/adapters/ and test/twins/ that run them.

const code = readPortCode();

describe('the ports and their contract suites', () => {
  it('hold: every port has one suite (or a reason in EXCEPTIONS), run by a real adapter and a twin', () => {
    expect(problems(code)).toEqual([]);
  });

  it('are read from the code: ports, the suite that names each, and the classes the tests run it on', () => {
    const port = (name: string) => code.ports.find((p) => p.name === name);
    expect(port('ProjectStoreMaintenance')?.file).toBe('src/ports/cache-maintenance.ts');
    expect(code.contracts.find((c) => c.port === 'ProjectStoreMaintenance')?.file).toBe(
      'test/ports/project-store-maintenance.contract.ts',
    );
    // Data shapes (no methods) are not ports.
    expect(port('CacheEntry')).toBeUndefined();
    const runs = (portName: string) => {
      const contract = code.contracts.find((c) => c.port === portName)!;
      return code.runs
        .filter((run) => run.contract === contract.file)
        .map(({ kind, file, className }) => ({
          kind,
          file,
          className,
        }));
    };
    expect(runs('CacheStatsReader')).toEqual([
      {
        kind: 'adapters',
        file: 'test/adapters/postgres/prisma-cache-stats.test.ts',
        className: 'PrismaCacheStatsReader',
      },
      { kind: 'twins', file: 'test/twins/memory-cache-stats.test.ts', className: 'MemoryCacheStatsReader' },
    ]);
    // A suite named by a const (`const name = …`), and one name given twice in one file.
    expect(runs('ProjectStoreMaintenance')).toContainEqual({
      kind: 'adapters',
      file: 'test/adapters/postgres/prisma-cache-maintenance.test.ts',
      className: 'PrismaCacheMaintenance',
    });
    expect(code.runs.filter((run) => run.file === 'test/adapters/postgres/prisma-leases.test.ts')).toHaveLength(2);
  });

  it('gives every exception a reason, for a port that has no suite', () => {
    for (const exception of EXCEPTIONS) {
      expect(exception.why, exception.port).toBeTruthy();
      expect(code.contracts.some((c) => c.port === exception.port)).toBe(false);
    }
  });

  it(`is what ${ARCHITECTURE_DOC} shows (else: npx tsx tools/docs/port-table.ts --write)`, () => {
    const doc = readDoc(ARCHITECTURE_DOC);
    expect(replaceSection(doc, renderPortTable(code))).toBe(doc);
  });

  it('keeps no counts: no "(23)" after a suite, no number in parentheses', () => {
    expect(renderPortTable(code)).not.toMatch(/\(\d/);
  });
});

describe('the check of the port table', () => {
  it('fails on a doc whose table differs from the code (a hand-kept count added, a row dropped)', () => {
    const doc = readDoc(ARCHITECTURE_DOC);
    const counted = doc.replace('`leases.contract.ts` |', '`leases.contract.ts` (10) |');
    const dropped = doc.replace(/^\| `VoiceList` \|.*\n/m, '');
    for (const tampered of [counted, dropped]) {
      expect(tampered).not.toBe(doc);
      expect(replaceSection(tampered, renderPortTable(code))).not.toBe(tampered);
      expect(replaceSection(tampered, renderPortTable(code))).toBe(doc);
    }
  });

  it('fails on a doc without the markers', () => {
    expect(() => replaceSection(readDoc(ARCHITECTURE_DOC).replace(MARKERS.end, ''), '')).toThrow(/port-table/);
  });

  describe('on a repository of its own', () => {
    let root: string | undefined;
    afterEach(() => {
      if (root) rmSync(root, { recursive: true, force: true });
      root = undefined;
    });

    /** A repository with a port Widget (suite, adapter, twin) and a port Gadget with no suite. */
    function repository(files: Record<string, string | null> = {}): string {
      root = mkdtempSync(path.join(tmpdir(), 'port-table-'));
      const all: Record<string, string | null> = {
        'src/ports/widget.ts':
          'export interface Widget { get(): string }\nexport interface WidgetData { id: string }\n',
        'src/ports/gadget.ts': 'export interface Gadget { run(): void }\n',
        'src/adapters/real-widget.ts': 'export class RealWidget implements Widget { get() { return ""; } }\n',
        'test/ports/widget.contract.ts': [
          "import type { Widget } from '../../src/ports/widget.ts';",
          'export function describeWidgetContract(name: string, create: () => Widget): void {}',
        ].join('\n'),
        'test/adapters/real-widget.test.ts': [
          "import { describeWidgetContract } from '../ports/widget.contract.ts';",
          "for (const shape of ['a', 'b']) describeWidgetContract(`RealWidget on ${shape}`, () => new RealWidget());",
        ].join('\n'),
        'test/twins/memory-widget.ts': 'export class MemoryWidget implements Widget { get() { return ""; } }\n',
        'test/twins/memory-widget.test.ts': [
          "import { describeWidgetContract as runs } from '../ports/widget.contract.ts';",
          "const name = 'MemoryWidget';",
          'runs(name, () => new MemoryWidget());',
        ].join('\n'),
        ...files,
      };
      for (const [file, text] of Object.entries(all)) {
        mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
        if (text !== null) writeFileSync(path.join(root, file), text);
      }
      return root;
    }

    it('renders what it finds: a suite name from a template literal, and one through an aliased import and a const', () => {
      const table = renderPortTable(readPortCode(repository()), []);
      expect(table).toContain(
        '| `Widget` | `widget.ts` | `widget.contract.ts` | `real-widget.test.ts`: `RealWidget on ${shape}` | `memory-widget.test.ts`: `MemoryWidget` |',
      );
      expect(table).toContain('| `Gadget` | `gadget.ts` | **none** | none | none |');
    });

    it('fails on a port file without a contract suite, unless it is an exception', () => {
      const found = readPortCode(repository());
      expect(problems(found, [])).toEqual([
        'Gadget (src/ports/gadget.ts): no contract suite in test/ports/, and no exception in EXCEPTIONS',
      ]);
      expect(problems(found, [{ port: 'Gadget', why: 'none: nothing to contract' }])).toEqual([]);
      expect(renderPortTable(found, [{ port: 'Gadget', why: 'none: nothing to contract' }])).toContain(
        '| `Gadget` | `gadget.ts` | none: nothing to contract | none | none |',
      );
    });

    it('fails on a stale exception, a suite no twin runs, and an adapter no suite runs', () => {
      const exception = { port: 'Gadget', why: 'none' };
      expect(problems(readPortCode(repository()), [exception, { port: 'Widget', why: 'stale' }])).toEqual([
        'Widget: listed in EXCEPTIONS but has a contract suite (test/ports/widget.contract.ts)',
      ]);
      rmSync(root!, { recursive: true });
      expect(problems(readPortCode(repository({ 'test/twins/memory-widget.test.ts': null })), [exception])).toEqual([
        'Widget (test/ports/widget.contract.ts): run by no test of test/twins/',
        'test/twins/memory-widget.ts: MemoryWidget implements Widget but runs no contract suite for it',
      ]);
      rmSync(root!, { recursive: true });
      const other = { 'src/adapters/other-widget.ts': 'export class OtherWidget implements Widget {}\n' };
      expect(problems(readPortCode(repository(other)), [exception])).toEqual([
        'src/adapters/other-widget.ts: OtherWidget implements Widget but runs no contract suite for it',
      ]);
    });

    it('fails on a suite named for no port, or for a class that does not implement it', () => {
      const exception = { port: 'Gadget', why: 'none' };
      const misnamed = {
        'test/ports/gadget.contract.ts': 'export function describeGizmoContract(name: string): void {}\n',
        'test/twins/memory-widget.test.ts': [
          "import { describeWidgetContract } from '../ports/widget.contract.ts';",
          "describeWidgetContract('MemoryWidget', () => new MemoryWidget());",
          "describeWidgetContract('a widget in memory', () => new MemoryWidget());",
        ].join('\n'),
      };
      expect(problems(readPortCode(repository(misnamed)), [exception])).toEqual([
        'test/ports/gadget.contract.ts: describeGizmoContract names no port of src/ports/',
        'test/twins/memory-widget.test.ts: the suite "a widget in memory" does not begin with a class of test/twins/',
      ]);
    });
  });
});
