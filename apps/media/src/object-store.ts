/**
 * Media's data path to S3: signed `GET`/`HEAD Object` (and `HEAD Bucket` for readiness) as plain HTTP
 * requests on the keep-alive pool, the body handed over as the socket's own stream. The same requests the
 * AWS SDK sends (SigV4, path-style or virtual-hosted addressing), without the SDK's per-request middleware,
 * which costs ~1 ms of CPU per read here (README, design notes: media). Uploads and listing, which are rare
 * and need multipart and XML, still go through the SDK.
 *
 * Failures are typed: `StorageResponseError` when storage answered with an error status (its S3 error code
 * read from the small XML body), `StorageRequestError` when it did not answer in time or the connection
 * failed, and an `AbortError` when the caller's signal fired.
 */
import type { ClientRequest, Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { request as httpsRequest } from 'node:https';
import { encodePathSegment, type SigV4Credentials, SigV4Signer } from './sigv4.js';

export interface ObjectStoreOptions {
  /** Base URL of the S3 API; without one, AWS S3 in `region`. */
  endpoint: string | undefined;
  region: string;
  bucket: string;
  forcePathStyle: boolean;
  credentials: SigV4Credentials;
  agents: { http: HttpAgent; https: HttpsAgent };
  connectTimeoutMs: number;
  /** From sending the request to the response's headers. */
  requestTimeoutMs: number;
  /** Longest silence on the socket, also while the body streams. */
  socketTimeoutMs: number;
  /** Tries for a request that failed before any answer or got a 5xx (the SDK's `maxAttempts`). */
  maxAttempts: number;
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
  /** The body as it arrives (GET with 200 or 206); for anything else it has been drained already. */
  body: IncomingMessage;
}

/** Storage answered, with an error status. `code` is S3's error code (`NoSuchKey`, `InvalidRange`, …). */
export class StorageResponseError extends Error {
  override readonly name = 'StorageResponseError';
  constructor(
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(`storage answered ${status}${code ? ` ${code}` : ''}`);
  }
}

/** Storage did not answer: refused, reset, timed out. */
export class StorageRequestError extends Error {
  override readonly name = 'StorageRequestError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

const ERROR_BODY_LIMIT = 8 * 1024;
const RETRY_BASE_DELAY_MS = 50;

function abortError(): Error {
  return Object.assign(new Error('the request was aborted'), { name: 'AbortError' });
}

function readErrorCode(response: IncomingMessage, headers: IncomingHttpHeaders): Promise<string | undefined> {
  const fromHeader = headers['x-amz-error-code'];
  return new Promise((resolve) => {
    let text = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      if (text.length < ERROR_BODY_LIMIT) text += chunk;
    });
    const done = () => {
      const match = /<Code>([^<]{1,128})<\/Code>/.exec(text);
      resolve(match?.[1] ?? (typeof fromHeader === 'string' ? fromHeader : undefined));
    };
    response.once('end', done);
    response.once('error', done);
    response.once('aborted', done);
  });
}

export class ObjectStore {
  readonly bucket: string;
  readonly #options: ObjectStoreOptions;
  readonly #signer: SigV4Signer;
  readonly #base: URL;
  readonly #virtualHost: boolean;

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

  #once(
    method: 'GET' | 'HEAD',
    key: string | undefined,
    extraHeaders: Record<string, string>,
    signal: AbortSignal,
  ): Promise<StoreResponse> {
    if (signal.aborted) return Promise.reject(abortError());
    const { host, path } = this.#locate(key);
    const headers = this.#signer.sign({ method, path, headers: { host, ...extraHeaders } });
    const tls = this.#base.protocol === 'https:';
    const options = this.#options;
    return new Promise<StoreResponse>((resolve, reject) => {
      let settled = false;
      let request: ClientRequest;
      const timers: NodeJS.Timeout[] = [];
      const clearTimers = () => {
        for (const t of timers) clearTimeout(t);
        timers.length = 0;
      };
      const fail = (error: Error) => {
        clearTimers();
        if (!settled) {
          settled = true;
          reject(error);
        }
        request.destroy();
      };
      const onAbort = () => fail(abortError());
      signal.addEventListener('abort', onAbort, { once: true });
      const detach = () => signal.removeEventListener('abort', onAbort);

      request = (tls ? httpsRequest : httpRequest)({
        protocol: this.#base.protocol,
        hostname: this.#base.hostname,
        port: this.#base.port || undefined,
        servername: tls ? host.replace(/:\d+$/, '') : undefined,
        method,
        path,
        headers,
        agent: tls ? options.agents.https : options.agents.http,
      });
      timers.push(
        setTimeout(
          () => fail(new StorageRequestError('storage did not answer in time', 'ETIMEDOUT')),
          options.requestTimeoutMs,
        ),
      );
      request.setTimeout(options.socketTimeoutMs, () =>
        fail(new StorageRequestError('the storage connection went silent', 'ETIMEDOUT')),
      );
      request.on('socket', (socket) => {
        if (!socket.connecting) return;
        const connectTimer = setTimeout(
          () => fail(new StorageRequestError('could not connect to storage in time', 'ETIMEDOUT')),
          options.connectTimeoutMs,
        );
        timers.push(connectTimer);
        socket.once('connect', () => clearTimeout(connectTimer));
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        detach();
        fail(
          signal.aborted
            ? abortError()
            : new StorageRequestError(`storage request failed: ${error.message}`, error.code),
        );
      });
      request.on('response', (response) => {
        clearTimers();
        const status = response.statusCode ?? 0;
        const ok = method === 'GET' ? status === 200 || status === 206 : status >= 200 && status < 300;
        if (ok) {
          // The caller's signal keeps covering the body: a client that leaves ends the storage read.
          response.once('close', detach);
          settled = true;
          resolve({ status, headers: response.headers, body: response });
          return;
        }
        if (status === 304) {
          detach();
          response.resume();
          settled = true;
          resolve({ status, headers: response.headers, body: response });
          return;
        }
        readErrorCode(response, response.headers).then((code) => {
          detach();
          if (settled) return;
          settled = true;
          reject(
            new StorageResponseError(
              status,
              code ?? (status === 404 && method === 'HEAD' ? 'NotFound' : undefined),
            ),
          );
        });
      });
      request.end();
    });
  }
}
