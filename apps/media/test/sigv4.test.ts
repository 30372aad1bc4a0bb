import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { encodePathSegment, SigV4Signer } from '../src/sigv4.js';

const EXAMPLE = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The hash constructor @smithy/signature-v4 expects, on node:crypto. */
type Data = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: Data): string | Uint8Array =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

class Sha256 {
  readonly #hash;
  constructor(secret?: Data) {
    this.#hash = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: Data) {
    this.#hash.update(bytes(data));
  }
  async digest() {
    return new Uint8Array(this.#hash.digest());
  }
}

describe('SigV4Signer', () => {
  it('reproduces AWS’s published example (S3 GET Object with a Range, Authorization header)', () => {
    const signer = new SigV4Signer({ credentials: EXAMPLE, region: 'us-east-1' });
    const headers = signer.sign({
      method: 'GET',
      path: '/test.txt',
      headers: { host: 'examplebucket.s3.amazonaws.com', range: 'bytes=0-9' },
      payloadHash: EMPTY_SHA256,
      now: new Date('2013-05-24T00:00:00Z'),
    });
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, ' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
    expect(headers['x-amz-date']).toBe('20130524T000000Z');
  });

  it('agrees with the AWS SDK’s signer on keys with spaces, unicode and reserved characters', async () => {
    const credentials = { accessKeyId: 'TESTKEY', secretAccessKey: 'TESTSECRET' };
    const ours = new SigV4Signer({ credentials, region: 'eu-west-3' });
    const sdk = new SignatureV4({
      credentials,
      region: 'eu-west-3',
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
      applyChecksum: true,
    });
    const now = new Date('2026-11-29T15:42:29Z');
    const keys = [
      'a.wav',
      'dir/sub dir/track (1).mp3',
      'ünïcødé/ファイル.flac',
      "q!'()*&$+,;=@~-_.x",
      'a/b%2Fc',
    ];
    for (const [i, key] of keys.entries()) {
      const path = `/media/${key.split('/').map(encodePathSegment).join('/')}`;
      const headers: Record<string, string> = { host: '127.0.0.1:7480' };
      if (i % 2 === 0) headers.range = `bytes=${i}-`;
      if (i === 1) headers['if-none-match'] = '"abc", "def"';
      if (i === 3) headers['if-modified-since'] = now.toUTCString();
      const signed = ours.sign({ method: i === 4 ? 'HEAD' : 'GET', path, headers, now });
      const expected = await sdk.sign(
        {
          method: i === 4 ? 'HEAD' : 'GET',
          protocol: 'http:',
          hostname: '127.0.0.1',
          port: 7480,
          path,
          query: {},
          headers: { ...headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
        },
        { signingDate: now },
      );
      expect(signed.authorization, key).toBe(expected.headers.authorization);
    }
  });

  it('encodes path segments the way S3 canonicalises them', () => {
    expect(encodePathSegment("a b!'()*é")).toBe('a%20b%21%27%28%29%2A%C3%A9');
    expect(encodePathSegment('-_.~')).toBe('-_.~');
  });
});
