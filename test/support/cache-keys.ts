import { createHash } from 'node:crypto';

/** A cache key as the service makes them (a sha256, 64 hex digits), named by a label. */
export const keyOf = (label: string): string => createHash('sha256').update(label).digest('hex');
