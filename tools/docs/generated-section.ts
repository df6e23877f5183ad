import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// A generated section of a document: the text between a start marker and an end marker, rewritten whole by the
// tool that renders it (--write) and compared with what it renders by a test in test/docs/.

export interface Markers {
  /** The line that opens the section (an HTML comment naming the command that writes it). */
  start: string;
  /** The line that closes it. */
  end: string;
}

/** `doc` with the section between `markers` (the markers included) replaced by `section`. */
export function replaceBetween(doc: string, markers: Markers, section: string): string {
  const start = doc.indexOf(markers.start);
  const end = doc.indexOf(markers.end);
  if (start === -1 || end === -1 || end < start)
    throw new Error(`no generated section marked ${markers.start} … ${markers.end}`);
  return doc.slice(0, start) + section + doc.slice(end + markers.end.length);
}

/**
 * The command line of a generator: prints `section`; with --write rewrites the marked section of `file` (relative to
 * `root`); with --check exits 1 when that section differs from `section`.
 */
export function runSectionCommand(options: {
  root: string;
  file: string;
  markers: Markers;
  section: string;
  what: string;
  command: string;
  argv?: string[];
}): void {
  const { root, file, markers, section, what, command, argv = process.argv } = options;
  const absolute = path.join(root, file);
  if (argv.includes('--write')) {
    writeFileSync(absolute, replaceBetween(readFileSync(absolute, 'utf8'), markers, section));
    console.log(`${file}: ${what} written`);
  } else if (argv.includes('--check')) {
    const doc = readFileSync(absolute, 'utf8');
    if (replaceBetween(doc, markers, section) !== doc) {
      console.error(`${file}: ${what} is stale; run ${command}`);
      process.exitCode = 1;
    }
  } else {
    console.log(section);
  }
}
