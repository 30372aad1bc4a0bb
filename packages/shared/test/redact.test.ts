import { describe, expect, it } from 'vitest';
import { redactUrl } from '../src/redact.js';

describe('redactUrl', () => {
  it('removes query tokens and path tokens', () => {
    expect(redactUrl('/v1/objects/a.wav?token=abc.def.ghi&x=1')).toBe(
      '/v1/objects/a.wav?token=[REDACTED]&x=1',
    );
    expect(redactUrl('/v1/t/abc.def.ghi/catalog/a.wav')).toBe('/v1/t/[REDACTED]/catalog/a.wav');
    expect(redactUrl('/x?a=1&access_token=zzz')).toBe('/x?a=1&access_token=[REDACTED]');
  });
});
