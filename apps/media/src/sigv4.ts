/**
 * AWS Signature Version 4 for media's object reads (header form, `UNSIGNED-PAYLOAD`: a GET or HEAD has no
 * body). The algorithm is the one AWS documents and `@smithy/signature-v4` implements; a test checks it
 * against AWS's published example and against that signer. It exists because the whole SDK stack costs
 * ~1 ms of CPU per GetObject here (README, design notes: media).
 *
 * The signing key depends only on the day, so it is derived once a day, not per request.
 */
import { createHmac, hash } from 'node:crypto';

export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials (STS) also send `x-amz-security-token`. */
  sessionToken?: string;
}

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** RFC 3986 percent-encoding of one path segment, as S3 canonicalises it (`!'()*` encoded too). */
export function encodePathSegment(segment: string): string {
  return encodeURIComponent(segment).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `20261129T154229Z` and `20261129` for a time. */
function amzDates(now: Date): { amzDate: string; day: string } {
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return { amzDate, day: amzDate.slice(0, 8) };
}

/** The same, computed once per second for the current time (every object read signs with it). */
let currentSecond = -1;
let currentDates = amzDates(new Date(0));
function currentAmzDates(): { amzDate: string; day: string } {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== currentSecond) {
    currentDates = amzDates(new Date(now));
    currentSecond = second;
  }
  return currentDates;
}

export class SigV4Signer {
  readonly #credentials: SigV4Credentials;
  readonly #region: string;
  readonly #service: string;
  #keyDay = '';
  #key: Buffer = Buffer.alloc(0);

  constructor(options: { credentials: SigV4Credentials; region: string; service?: string }) {
    this.#credentials = options.credentials;
    this.#region = options.region;
    this.#service = options.service ?? 's3';
  }

  #signingKey(day: string): Buffer {
    if (day !== this.#keyDay) {
      const kDate = createHmac('sha256', `AWS4${this.#credentials.secretAccessKey}`).update(day).digest();
      const kRegion = createHmac('sha256', kDate).update(this.#region).digest();
      const kService = createHmac('sha256', kRegion).update(this.#service).digest();
      this.#key = createHmac('sha256', kService).update('aws4_request').digest();
      this.#keyDay = day;
    }
    return this.#key;
  }

  /**
   * The headers to send: `headers` (names in lower case, `host` included) plus `x-amz-date`,
   * `x-amz-content-sha256`, the session token if any, and `authorization`. Every header sent is signed.
   * `path` is the already-encoded path exactly as it goes on the wire; `query` the encoded query string
   * (without `?`), its parameters sorted.
   */
  sign(request: {
    method: string;
    path: string;
    query?: string;
    headers: Record<string, string>;
    payloadHash?: string;
    now?: Date;
  }): Record<string, string> {
    const { amzDate, day } = request.now ? amzDates(request.now) : currentAmzDates();
    const payloadHash = request.payloadHash ?? UNSIGNED_PAYLOAD;
    const headers: Record<string, string> = {
      ...request.headers,
      'x-amz-date': amzDate,
      'x-amz-content-sha256': payloadHash,
    };
    if (this.#credentials.sessionToken) headers['x-amz-security-token'] = this.#credentials.sessionToken;
    const names = Object.keys(headers).sort();
    let canonicalHeaders = '';
    for (const name of names) {
      canonicalHeaders += `${name}:${String(headers[name]).trim().replace(/ +/g, ' ')}\n`;
    }
    const signedHeaders = names.join(';');
    const canonicalRequest = `${request.method}\n${request.path}\n${request.query ?? ''}\n${canonicalHeaders}\n${signedHeaders}\n${payloadHash}`;
    const scope = `${day}/${this.#region}/${this.#service}/aws4_request`;
    const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${hash('sha256', canonicalRequest, 'hex')}`;
    const signature = createHmac('sha256', this.#signingKey(day)).update(stringToSign).digest('hex');
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${this.#credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return headers;
  }
}
