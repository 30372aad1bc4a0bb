import { describe, expect, it } from 'vitest';
import {
  decodeKeyPath,
  encodeKeyPath,
  keyIsUnderPrefix,
  validateKeyPrefix,
  validateObjectKey,
} from '../src/keys/object-key.js';

describe('validateObjectKey', () => {
  it.each(['catalog/track.wav', 'users/u1/private note.mp3', 'catalog/ünïcode/曲.wav'])(
    'accepts %s',
    (key) => {
      expect(validateObjectKey(key)).toEqual({ ok: true, key });
    },
  );

  it.each([
    ['', 'empty'],
    ['/catalog/a.wav', 'leading slash'],
    ['catalog//a.wav', 'empty segment'],
    ['catalog/', 'trailing slash'],
    ['catalog/./a.wav', 'dot segment'],
    ['catalog/../users/u2/a.wav', 'dot-dot segment'],
    ['..', 'bare dot-dot'],
    ['catalog\\a.wav', 'backslash'],
    ['catalog/a\u0000.wav', 'NUL'],
    ['catalog/a\n.wav', 'newline'],
    ['catalog/a\u007f.wav', 'DEL'],
    [`catalog/${'a'.repeat(1020)}`, 'over 1024 bytes'],
    [`catalog/${'é'.repeat(509)}`, 'over 1024 bytes in UTF-8 though under 1024 characters'],
  ])('refuses %j (%s)', (key) => {
    expect(validateObjectKey(key).ok).toBe(false);
  });

  it('accepts exactly 1024 bytes', () => {
    expect(validateObjectKey(`c/${'a'.repeat(1022)}`).ok).toBe(true);
  });

  it('refuses non-strings', () => {
    expect(validateObjectKey(42).ok).toBe(false);
    expect(validateObjectKey(undefined).ok).toBe(false);
  });
});

describe('decodeKeyPath', () => {
  it('decodes each segment', () => {
    expect(decodeKeyPath('catalog/my%20song.wav')).toEqual({ ok: true, key: 'catalog/my song.wav' });
  });
  it('refuses encoded traversal and encoded slashes', () => {
    expect(decodeKeyPath('catalog/%2e%2e/users/u2/a.wav').ok).toBe(false);
    expect(decodeKeyPath('catalog%2F..%2Fusers/a.wav').ok).toBe(false);
    expect(decodeKeyPath('catalog/%5Ca.wav').ok).toBe(false);
    expect(decodeKeyPath('catalog/%00.wav').ok).toBe(false);
  });
  it('refuses malformed escapes', () => {
    expect(decodeKeyPath('catalog/%E0%A4%A.wav').ok).toBe(false);
  });
  it('round-trips with encodeKeyPath', () => {
    const key = 'catalog/a b/c?d#e%f.wav';
    expect(decodeKeyPath(encodeKeyPath(key))).toEqual({ ok: true, key });
  });
});

describe('prefixes', () => {
  it('requires a trailing slash', () => {
    expect(validateKeyPrefix('users/u1/').ok).toBe(true);
    expect(validateKeyPrefix('users/u1').ok).toBe(false);
    expect(validateKeyPrefix('users/../').ok).toBe(false);
  });
  it('does not let users/u1/ cover users/u10/', () => {
    expect(keyIsUnderPrefix('users/u1/a.wav', 'users/u1/')).toBe(true);
    expect(keyIsUnderPrefix('users/u10/a.wav', 'users/u1/')).toBe(false);
    expect(keyIsUnderPrefix('users/u1/', 'users/u1/')).toBe(false);
  });
});
