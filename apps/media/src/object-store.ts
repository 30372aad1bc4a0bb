/**
 * Media's data path to S3: signed `GET`/`HEAD Object` (and `HEAD Bucket` for readiness) as plain HTTP/1.1
 * requests on media's own keep-alive pool (`storage-http.ts`), the body handed over in pooled read buffers.
 * The same requests the AWS SDK sends (SigV4, path-style or virtual-hosted addressing), without the SDK's
 * per-request middleware, which costs ~1 ms of CPU per read here (README, design notes: media). Uploads and
 * listing, which are rare and need multipart and XML, still go through the SDK.
 *
 * Failures are typed: `StorageResponseError` when storage answered with an error status (its S3 error code
 * read from the small XML body), `StorageRequestError` when it did not answer in time or the connection
 * failed, and an `AbortError` when the caller's signal fired.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { LookupFunction } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { encodePathSegment, type SigV4Credentials, SigV4Signer } from './sigv4.js';
import {
  abortError,
  type StorageBody,
  StoragePool,
  StorageRequestError,
  StorageResponseError,
} from './storage-http.js';

export interface ObjectStoreOptions {
  /** Base URL of the S3 API; without one, AWS S3 in `region`. */
  endpoint: string | undefined;
  region: string;
  bucket: string;
  forcePathStyle: boolean;
  credentials: SigV4Credentials;
  /** Connections to storage at most (requests beyond wait in line, within the request timeout). */
  maxSockets: number;
  /** Idle keep-alive connections kept at most. */
  maxFreeSockets: number;
  /** An idle keep-alive connection is closed after this long. */
  freeSocketTimeoutMs: number;
  connectTimeoutMs: number;
  /** From asking (waiting for a free connection included) to the response's headers. */
  requestTimeoutMs: number;
  /** Longest silence on the socket, also while the body streams. */
  socketTimeoutMs: number;
  /** Tries for a request that failed before any answer or got a 5xx (the SDK's `maxAttempts`). */
  maxAttempts: number;
  /** Name resolution (tests send virtual-hosted names to loopback). */
  lookup?: LookupFunction;
  /** More TLS options, such as a CA. */
  tls?: ConnectionOptions;
  /** Hears of every attempt: S3 operation, HTTP status (`error`: no answer, `aborted`), seconds to the head. */
  observe?: (operation: string, status: string, seconds: number) => void;
}

export interface ReadConditions {
  /** An absolute range: `bytes=start-end` or `bytes=start-`. */
  range?: { start: number; end: number | undefined };
  ifNoneMatch?: string;
  ifModifiedSince?: Date;
}

export interface StoreResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as it arrives (GET with 200 or 206); already ended for anything else. */
  body: StorageBody;
}

const ERROR_BODY_LIMIT = 8 * 1024;
const RETRY_BASE_DELAY_MS = 50;

/** S3's error code from an error answer's XML body (read up to 8 KiB, then the connection is dropped). */
function readErrorCode(body: StorageBody, headers: IncomingHttpHeaders): Promise<string | undefined> {
  const fromHeader = headers['x-amz-error-code'];
  return new Promise((resolve) => {
    let text = '';
    const done = () => {
      const match = /<Code>([^<]{1,128})<\/Code>/.exec(text);
      resolve(match?.[1] ?? (typeof fromHeader === 'string' ? fromHeader : undefined));
    };
    if (body.empty) {
      done();
      return;
    }
    body.setEncoding('latin1');
    body.on('data', (chunk: string) => {
      text += chunk;
      if (text.length >= ERROR_BODY_LIMIT) body.destroy();
    });
    body.once('end', done);
    body.once('close', done);
  });
}

export class ObjectStore {
  readonly bucket: string;
  readonly #options: ObjectStoreOptions;
  readonly #signer: SigV4Signer;
  readonly #base: URL;
  readonly #virtualHost: boolean;
  readonly #pool: StoragePool;

  constructor(options: ObjectStoreOptions) {
    this.#options = options;
    this.bucket = options.bucket;
    this.#signer = new SigV4Signer({ credentials: options.credentials, region: options.region });
    this.#base = new URL(options.endpoint ?? `https://s3.${options.region}.amazonaws.com`);
    // Virtual-hosted addressing needs a DNS-safe bucket name, and over TLS one without dots (the wildcard
    // certificate covers one label): otherwise path-style, as the SDK does.
    const dnsSafe =
      /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket) && !options.bucket.includes('..');
    this.#virtualHost =
      !options.forcePathStyle &&
      dnsSafe &&
      !(this.#base.protocol === 'https:' && options.bucket.includes('.')) &&
      !/^\d+\.\d+\.\d+\.\d+$/.test(this.#base.hostname) &&
      this.#base.hostname !== 'localhost';
    const tls = this.#base.protocol === 'https:';
    this.#pool = new StoragePool({
      protocol: tls ? 'https:' : 'http:',
      hostname: this.#base.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(this.#base.port || (tls ? 443 : 80)),
      servername: tls ? this.#locate(undefined).host.replace(/:\d+$/, '') : undefined,
      maxSockets: options.maxSockets,
      maxFreeSockets: options.maxFreeSockets,
      freeSocketTimeoutMs: options.freeSocketTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      lookup: options.lookup,
      tls: options.tls,
    });
  }

  /** Connections to storage: serving an answer, idle in the pool, and requests waiting for one. */
  connections(): { busy: number; idle: number; queued: number } {
    return this.#pool.stats();
  }

  /** Closes every connection; requests still waiting fail. */
  close(): void {
    this.#pool.destroy();
  }

  /** Where an object (or, with `key` undefined, the bucket) lives: host header and encoded path. */
  #locate(key: string | undefined): { host: string; path: string } {
    const basePath = this.#base.pathname.replace(/\/+$/, '');
    const keyPath = key === undefined ? '' : key.split('/').map(encodePathSegment).join('/');
    if (this.#virtualHost) {
      return { host: `${this.#options.bucket}.${this.#base.host}`, path: `${basePath}/${keyPath}` };
    }
    const bucketPath = `${basePath}/${encodePathSegment(this.#options.bucket)}`;
    return { host: this.#base.host, path: key === undefined ? bucketPath : `${bucketPath}/${keyPath}` };
  }

  /** GET an object. Resolves on 200/206 (body streaming) and 304 (no body); other statuses reject. */
  get(key: string, conditions: ReadConditions, signal: AbortSignal): Promise<StoreResponse> {
    const headers: Record<string, string> = {};
    if (conditions.range) {
      headers.range = `bytes=${conditions.range.start}-${conditions.range.end ?? ''}`;
    }
    if (conditions.ifNoneMatch !== undefined) headers['if-none-match'] = conditions.ifNoneMatch;
    if (conditions.ifModifiedSince) headers['if-modified-since'] = conditions.ifModifiedSince.toUTCString();
    return this.#send('GET', key, headers, signal);
  }

  /** HEAD an object: its headers, or a `StorageResponseError` (404 `NoSuchKey` when it does not exist). */
  async head(key: string, signal: AbortSignal): Promise<StoreResponse> {
    return this.#send('HEAD', key, {}, signal);
  }

  /** HEAD the bucket: resolves if it exists and the credentials may read it. */
  async headBucket(signal: AbortSignal): Promise<void> {
    await this.#send('HEAD', undefined, {}, signal);
  }

  async #send(
    method: 'GET' | 'HEAD',
    key: string | undefined,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<StoreResponse> {
    const attempts = Math.max(1, this.#options.maxAttempts);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#once(method, key, headers, signal);
      } catch (error) {
        const retryable =
          error instanceof StorageRequestError ||
          (error instanceof StorageResponseError && error.status >= 500);
        if (!retryable || attempt >= attempts || signal.aborted) throw error;
        // Jittered backoff, as the SDK's standard retry strategy does; bounded by maxAttempts.
        await new Promise((r) => setTimeout(r, RETRY_BASE_DELAY_MS * attempt * (0.5 + Math.random())));
        if (signal.aborted) throw abortError();
      }
    }
  }

  async #once(
    method: 'GET' | 'HEAD',
    key: string | undefined,
    extraHeaders: Record<string, string>,
    signal: AbortSignal,
  ): Promise<StoreResponse> {
    const { host, path } = this.#locate(key);
    const headers = this.#signer.sign({ method, path, headers: { host, ...extraHeaders } });
    const observe = this.#options.observe;
    const started = observe ? performance.now() : 0;
    const operation = key === undefined ? 'HeadBucket' : method === 'GET' ? 'GetObject' : 'HeadObject';
    let answer: StoreResponse;
    try {
      answer = await this.#pool.request({
        method,
        path,
        headers,
        signal,
        headTimeoutMs: this.#options.requestTimeoutMs,
        idleTimeoutMs: this.#options.socketTimeoutMs,
      });
    } catch (error) {
      observe?.(operation, signal.aborted ? 'aborted' : 'error', (performance.now() - started) / 1000);
      throw error;
    }
    observe?.(operation, String(answer.status), (performance.now() - started) / 1000);
    const { status } = answer;
    const ok = method === 'GET' ? status === 200 || status === 206 : status >= 200 && status < 300;
    if (ok || status === 304) return answer;
    const code = await readErrorCode(answer.body, answer.headers);
    throw new StorageResponseError(
      status,
      code ?? (status === 404 && method === 'HEAD' ? 'NotFound' : undefined),
    );
  }
}
