/**
 * What a failed storage call means for the client. Only "no such key" is the caller's business (404);
 * everything else is storage's fault and becomes 502 (it answered wrongly) or 503 (it did not answer),
 * with the details logged, never shown. Errors come from `ObjectStore` (object reads) or the AWS SDK
 * (listing, uploads).
 */
import { StorageBadGateway, StorageUnavailable } from './errors.js';
import { StorageRequestError, StorageResponseError } from './storage-http.js';

export interface StorageErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

export function storageStatus(error: unknown): number | undefined {
  if (error instanceof StorageResponseError) return error.status;
  return (error as StorageErrorShape | null)?.$metadata?.httpStatusCode;
}

export function isNoSuchKey(error: unknown): boolean {
  if (error instanceof StorageResponseError) {
    // A HEAD answer has no body, so a 404 there carries no code: "NotFound", as the SDK names it.
    return error.code === 'NoSuchKey' || (error.code === 'NotFound' && error.status === 404);
  }
  const e = error as StorageErrorShape | null;
  return (
    e?.name === 'NoSuchKey' ||
    e?.Code === 'NoSuchKey' ||
    (e?.name === 'NotFound' && storageStatus(error) === 404)
  );
}

export function isAbort(error: unknown): boolean {
  return (error as StorageErrorShape | null)?.name === 'AbortError';
}

/** A short description for the log: never a URL, a header or a body. */
export function describeStorageError(error: unknown): { name?: string; status?: number; code?: string } {
  const e = error as (StorageErrorShape & { code?: unknown }) | null;
  return {
    name: e?.name,
    status: storageStatus(error),
    code: typeof e?.code === 'string' ? e.code : e?.Code,
  };
}

export function toStorageHttpError(error: unknown): Error {
  // Something came back, but not HTTP: storage answered wrongly rather than not at all.
  if (error instanceof StorageRequestError && error.code === 'EPROTO') {
    return new StorageBadGateway('storage sent a malformed answer');
  }
  const status = storageStatus(error);
  if (status === undefined) return new StorageUnavailable('storage did not answer');
  return new StorageBadGateway('storage failed to answer the request');
}
