/**
 * Typed client for media's service API (CONTRACT.md, Media): `GET /v1/catalog`, `HEAD` and `PUT
 * /v1/objects/<key>`, authenticated with a service token from a `ServiceTokenSource`.
 *
 * Every call is bounded: `timeoutMs` (default 3 s) covers getting the token, connecting, and reading the
 * whole answer, and a caller's own `signal` can cut it shorter. A 401 drops the cached token and retries
 * once with a fresh one (the token's key may just have been retired); everything else fails with a
 * `MediaClientError` whose `code` says what happened.
 */
import { encodeKeyPath, validateKeyPrefix, validateObjectKey } from '@stagedoor/shared/keys';
import { MediaClientError, networkError, statusError } from './errors.js';
import type { ServiceTokenSource } from './token-source.js';

export interface CatalogItem {
  key: string;
  size: number;
  contentType: string;
  etag: string;
  lastModified: string;
}

export interface CatalogPage {
  items: CatalogItem[];
  nextCursor: string | null;
}

export interface ObjectHead {
  size: number;
  contentType: string;
  etag: string | null;
  lastModified: string | null;
}

export interface PutObjectResult {
  key: string;
  size: number;
  etag: string;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's timeout for this call (uploads of large bodies need longer). */
  timeoutMs?: number;
}

export interface MediaClientOptions {
  /** Media's base URL for service calls (MEDIA_INTERNAL_URL). */
  baseUrl: string | URL;
  tokens: ServiceTokenSource;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

type Body = Uint8Array | ReadableStream<Uint8Array> | Blob | string;

function isCatalogItem(value: unknown): value is CatalogItem {
  const v = value as Record<string, unknown> | null;
  return (
    typeof v?.key === 'string' &&
    typeof v.size === 'number' &&
    typeof v.contentType === 'string' &&
    typeof v.etag === 'string' &&
    typeof v.lastModified === 'string'
  );
}

export class MediaClient {
  readonly #base: URL;
  readonly #tokens: ServiceTokenSource;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: MediaClientOptions) {
    const base = new URL(options.baseUrl);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.#base = base;
    this.#tokens = options.tokens;
    this.#timeoutMs = options.timeoutMs ?? 3000;
    this.#fetch = options.fetch ?? fetch;
  }

  /** One page of `GET /v1/catalog` (needs `media:list`). */
  async listCatalog(
    query: { prefix?: string; cursor?: string } = {},
    options: CallOptions = {},
  ): Promise<CatalogPage> {
    if (query.prefix !== undefined && !validateKeyPrefix(query.prefix).ok) {
      throw new MediaClientError('invalid_request', 'the prefix is not a valid key prefix');
    }
    const url = new URL('v1/catalog', this.#base);
    if (query.prefix !== undefined) url.searchParams.set('prefix', query.prefix);
    if (query.cursor !== undefined) url.searchParams.set('cursor', query.cursor);
    return this.#call('GET /v1/catalog', url, { method: 'GET' }, options, async (response) => {
      const body = (await response.json()) as { items?: unknown; nextCursor?: unknown };
      if (!Array.isArray(body.items) || !body.items.every(isCatalogItem)) {
        throw new MediaClientError('bad_response', 'the catalog answer has no valid items list');
      }
      const next = body.nextCursor;
      return { items: body.items, nextCursor: typeof next === 'string' && next !== '' ? next : null };
    });
  }

  /** Every item under a prefix, page by page, refusing to gather more than `maxItems`. */
  async listAll(prefix: string, options: CallOptions & { maxItems?: number } = {}): Promise<CatalogItem[]> {
    const maxItems = options.maxItems ?? 10_000;
    const deadline = AbortSignal.timeout(options.timeoutMs ?? this.#timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    const items: CatalogItem[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listCatalog(cursor === undefined ? { prefix } : { prefix, cursor }, {
        signal,
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      });
      items.push(...page.items);
      if (items.length > maxItems) {
        throw new MediaClientError('bad_response', `more than ${maxItems} items under ${prefix}`);
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return items;
  }

  /** `HEAD /v1/objects/<key>` (needs `media:read`); null when the object does not exist. */
  async headObject(key: string, options: CallOptions = {}): Promise<ObjectHead | null> {
    const url = this.#objectUrl(key);
    try {
      return await this.#call('HEAD /v1/objects', url, { method: 'HEAD' }, options, async (response) => ({
        size: Number(response.headers.get('content-length') ?? Number.NaN),
        contentType: response.headers.get('content-type') ?? 'application/octet-stream',
        etag: response.headers.get('etag'),
        lastModified: response.headers.get('last-modified'),
      }));
    } catch (error) {
      if (error instanceof MediaClientError && error.code === 'not_found') return null;
      throw error;
    }
  }

  /**
   * `PUT /v1/objects/<key>` (needs `media:write`). A stream body needs `contentLength`: media answers 411
   * without one.
   */
  async putObject(
    key: string,
    body: Body,
    contentType: string,
    options: CallOptions & { contentLength?: number } = {},
  ): Promise<PutObjectResult> {
    const url = this.#objectUrl(key);
    const headers: Record<string, string> = { 'content-type': contentType };
    if (options.contentLength !== undefined) headers['content-length'] = String(options.contentLength);
    const stream = typeof ReadableStream !== 'undefined' && body instanceof ReadableStream;
    if (stream && options.contentLength === undefined) {
      throw new MediaClientError('invalid_request', 'a stream body needs contentLength');
    }
    // A stream body cannot be sent twice, so it gets no retry after a 401.
    const init: RequestInit & { duplex?: 'half' } = { method: 'PUT', headers, body };
    if (stream) init.duplex = 'half';
    return this.#call(
      'PUT /v1/objects',
      url,
      init,
      options,
      async (response) => {
        const result = (await response.json()) as Record<string, unknown>;
        if (
          typeof result.key !== 'string' ||
          typeof result.size !== 'number' ||
          typeof result.etag !== 'string'
        ) {
          throw new MediaClientError('bad_response', 'the upload answer is not {key,size,etag}');
        }
        return { key: result.key, size: result.size, etag: result.etag };
      },
      !stream,
    );
  }

  #objectUrl(key: string): URL {
    if (!validateObjectKey(key).ok) throw new MediaClientError('invalid_request', 'the key is not valid');
    return new URL(`v1/objects/${encodeKeyPath(key)}`, this.#base);
  }

  async #call<T>(
    what: string,
    url: URL,
    init: RequestInit,
    options: CallOptions,
    read: (response: Response) => Promise<T>,
    retryOnUnauthorized = true,
  ): Promise<T> {
    const deadline = AbortSignal.timeout(options.timeoutMs ?? this.#timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    for (let attempt = 0; ; attempt++) {
      let token: string;
      try {
        token = await this.#tokens.getToken(signal);
      } catch (error) {
        if (error instanceof MediaClientError) throw error;
        throw networkError('getting a service token', error);
      }
      let response: Response;
      try {
        response = await this.#fetch(url, {
          ...init,
          headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` },
          signal,
        });
      } catch (error) {
        throw networkError(`${what} at media`, error);
      }
      if (response.status === 401 && attempt === 0 && retryOnUnauthorized) {
        await response.body?.cancel();
        this.#tokens.invalidate();
        continue;
      }
      if (!response.ok) {
        const remote = init.method === 'HEAD' ? undefined : await remoteErrorCode(response);
        throw statusError(what, response.status, remote);
      }
      try {
        return await read(response);
      } catch (error) {
        if (error instanceof MediaClientError) throw error;
        // The body stopped arriving before the deadline, or was not JSON.
        const name = (error as { name?: string } | null)?.name;
        if (name === 'TimeoutError' || name === 'AbortError') throw networkError(`${what} at media`, error);
        throw new MediaClientError('bad_response', `${what}: the answer could not be read`, { cause: error });
      }
    }
  }
}

async function remoteErrorCode(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.json()) as { error?: unknown };
    return typeof body.error === 'string' ? body.error : undefined;
  } catch {
    return undefined;
  }
}
