import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

// The documentation: README.md (the front door) and docs/*.md (everything else). Tests that check
// what the docs say read it from here, wherever in it the text lives.

import { root } from './repo.ts';

/** A path relative to the repository's root, made absolute. */
export const repoPath = (file: string) => path.join(root, file);

/** README.md, then docs/*.md in name order, as paths relative to the root. */
export function docFiles(): string[] {
  const docs = readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs];
}

export function readDoc(file: string): string {
  return readFileSync(path.join(root, file), 'utf8');
}

/** Every document's text, one after the other. */
export function allDocs(): string {
  return docFiles()
    .map((file) => readDoc(file))
    .join('\n');
}

/** The one document that contains `marker`, and its text (fails when none does, or several do). */
export function docContaining(marker: string): { file: string; text: string } {
  const found = docFiles().filter((file) => readDoc(file).includes(marker));
  if (found.length !== 1)
    throw new Error(
      `expected exactly one document to contain ${JSON.stringify(marker)}, found: ${found.join(', ') || 'none'}`,
    );
  return { file: found[0]!, text: readDoc(found[0]!) };
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown document's headings (outside code blocks), numbered as GitHub numbers repeats. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^(```|~~~)/.test(line)) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}
