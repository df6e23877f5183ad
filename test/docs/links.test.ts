import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchors, docFiles, readDoc, repoPath } from '../support/docs.ts';

// The README is a front door: short, and every document in docs/ reachable from it. Every
// relative link in the documentation (and infra/README.md) leads to a file that exists, and a #fragment to a heading
// of that file (GitHub's anchors).

/** The Markdown links `[text](target)` of a document, outside code blocks and code spans. */
function links(markdown: string): string[] {
  const prose = markdown
    .replace(/^(```|~~~)[\s\S]*?^\1/gm, '')
    .replace(/`[^`\n]*`/g, (span) => (span.includes('](') ? '' : span));
  return [...prose.matchAll(/\[[^\]\n]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
}

const relative = (target: string) => !/^[a-z][a-z0-9+.-]*:/i.test(target);

describe('the documentation', () => {
  it('keeps the README to at most 300 lines', () => {
    expect(readDoc('README.md').trimEnd().split('\n').length).toBeLessThanOrEqual(300);
  });

  it('links every document of docs/ from the README', () => {
    const targets = new Set(links(readDoc('README.md')).map((target) => path.normalize(target.split('#')[0]!)));
    const docs = docFiles().filter((file) => file !== 'README.md');
    expect(docs.length).toBeGreaterThanOrEqual(5);
    expect(docs.filter((file) => !targets.has(path.normalize(file)))).toEqual([]);
  });

  it.each([...docFiles(), 'infra/README.md'])(
    '%s: every relative link resolves to a file, and every #anchor to a heading',
    (file) => {
      const broken: string[] = [];
      for (const target of links(readDoc(file)).filter(relative)) {
        const [targetPath, fragment] = target.split('#') as [string, string | undefined];
        const resolved = targetPath === '' ? file : path.join(path.dirname(file), decodeURI(targetPath));
        if (!existsSync(repoPath(resolved))) {
          broken.push(`${target}: no file ${resolved}`);
          continue;
        }
        if (fragment === undefined || !resolved.endsWith('.md') || statSync(repoPath(resolved)).isDirectory()) continue;
        if (!anchors(readDoc(resolved)).has(decodeURIComponent(fragment)))
          broken.push(`${target}: no heading #${fragment} in ${resolved}`);
      }
      expect(broken).toEqual([]);
    },
  );
});
