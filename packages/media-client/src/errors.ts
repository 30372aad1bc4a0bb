/**
 * One error class for everything the media client can fail with; callers `switch` on `code`.
 * - `unavailable`: media (or the token endpoint) did not answer in time, refused the connection, or
 *   answered 5xx — worth retrying later;
 * - `unauthorized` / `forbidden`: media refused the service token (401) or its scope (403);
 * - `not_found`, `invalid_request`: media's 404 and 4xx answers about the request itself;
 * - `bad_response`: media answered something that is not what its contract says.
 */
export type MediaClientErrorCode =
  | 'unavailable'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'invalid_request'
  | 'bad_response';

export class MediaClientError extends Error {
  readonly code: MediaClientErrorCode;
  /** The HTTP status media answered with, when it answered. */
  readonly status: number | undefined;
  /** Media's contract error code (`error` in its body), when it sent one. */
  readonly remoteCode: string | undefined;

  constructor(
    code: MediaClientErrorCode,
    message: string,
    options: { status?: number; remoteCode?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MediaClientError';
    this.code = code;
    this.status = options.status;
    this.remoteCode = options.remoteCode;
  }
}

/** Maps a fetch failure (refused, reset, timed out, aborted) to `unavailable`. */
export function networkError(what: string, cause: unknown): MediaClientError {
  const name = (cause as { name?: string } | null)?.name;
  const reason = name === 'TimeoutError' ? 'timed out' : name === 'AbortError' ? 'was aborted' : 'failed';
  return new MediaClientError('unavailable', `${what} ${reason}`, { cause });
}

/** Maps a non-2xx answer to the error code callers switch on. */
export function statusError(what: string, status: number, remoteCode?: string): MediaClientError {
  const code: MediaClientErrorCode =
    status >= 500 || status === 429
      ? 'unavailable'
      : status === 401
        ? 'unauthorized'
        : status === 403
          ? 'forbidden'
          : status === 404
            ? 'not_found'
            : 'invalid_request';
  return new MediaClientError(code, `${what} answered ${status}${remoteCode ? ` ${remoteCode}` : ''}`, {
    status,
    ...(remoteCode === undefined ? {} : { remoteCode }),
  });
}
