/**
 * What a failed storage call means for the client. Only "no such key" is the caller's business (404);
 * everything else is storage's fault and becomes 502 (it answered wrongly) or 503 (it did not answer),
 * with the details logged, never shown.
 */
import { StorageBadGateway, StorageUnavailable } from './errors.js';

export interface StorageErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

export function storageStatus(error: unknown): number | undefined {
  return (error as StorageErrorShape | null)?.$metadata?.httpStatusCode;
}

export function isNoSuchKey(error: unknown): boolean {
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

export function toStorageHttpError(error: unknown): Error {
  const status = storageStatus(error);
  if (status === undefined) return new StorageUnavailable('storage did not answer');
  return new StorageBadGateway('storage failed to answer the request');
}
