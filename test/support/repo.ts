import path from 'node:path';

/** The repository's root directory (where package.json is). */
export const root = path.resolve(__dirname, '../..');
