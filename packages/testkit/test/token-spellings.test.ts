import { describe, expect, it } from 'vitest';
import { findTokenLeaks, percentEncodeAll } from '../src/token-spellings.js';

// A fake token of the real shape: the search does not care whether it verifies.
const token = `eyJhbGciOiJFZERTQSJ9.${'eyJzdWIiOiJ1c2VyLTEiLCJqdGkiOiIxMjM0NTY3ODkwIn0'}.${'Q2xvY2tzIGFuZCBzaWduYXR1cmVzIGFyZSBub3QgZm9yIGxvZ3MsIG5vdCBldmVyLCBub3QgaGVyZQ'}`;
const signature = token.split('.')[2] ?? '';

describe('findTokenLeaks (the positive control of every log search)', () => {
  it('finds the token as written, a slice of its signature, and nothing in clean lines', () => {
    expect(findTokenLeaks([JSON.stringify({ url: `/x?token=${token}` })], token)).toContain(token);
    expect(findTokenLeaks([JSON.stringify({ msg: signature.slice(10, 30) })], token)).not.toEqual([]);
    expect(findTokenLeaks([JSON.stringify({ url: '/v1/t/[REDACTED]/a.wav' })], token)).toEqual([]);
  });

  it('finds it percent-encoded, double-encoded, or as the bytes of a serialized Buffer', () => {
    expect(
      findTokenLeaks([JSON.stringify({ url: `/x?token=${percentEncodeAll(token)}` })], token),
    ).not.toEqual([]);
    const twice = percentEncodeAll(token).replaceAll('%', '%25');
    expect(findTokenLeaks([JSON.stringify({ url: `/x/${twice}` })], token)).not.toEqual([]);
    const err = { err: { rawPacket: Buffer.from(`GET /x HTTP/1.1\r\nAuthorization: Bearer ${token}\r\n`) } };
    expect(findTokenLeaks([JSON.stringify(err)], token)).not.toEqual([]);
  });
});
