import { describe, expect, it } from 'vitest';
import { describeError, loggable } from '../src/errors.ts';

describe('describeError: text from elsewhere in one log line', () => {
  it('escapes what could forge a line (a storage server that answers with a line break and a fake entry)', () => {
    const remote = 'denied\nWARN: audition cache: everything is fine\r\u2028\u0000';
    const line = describeError(new Error(remote));
    expect(line).not.toMatch(/[\n\r\u2028\u0000]/);
    expect(line).toBe('denied\\u000aWARN: audition cache: everything is fine\\u000d\\u2028\\u0000');
  });

  it('bounds a message a server made long, saying how much was left out', () => {
    const line = describeError(Object.assign(new Error('x'.repeat(100_000)), { name: 'RestError' }));
    expect(line.length).toBeLessThan(600);
    expect(line).toMatch(/^RestError: x+… \(99511 more characters\)$/);
  });

  it('leaves ordinary text as it is, non-errors included', () => {
    expect(describeError(new TypeError('ñandú «audio» 🎧'))).toBe('TypeError: ñandú «audio» 🎧');
    expect(loggable('plain')).toBe('plain');
    expect(describeError('a\tstring')).toBe('a\\u0009string');
  });
});
