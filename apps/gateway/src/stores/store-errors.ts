/**
 * One error for "a store the request needs is not answering" (Redis down, timed out, connection lost).
 * It carries the contract's `service_unavailable` code and status, so the shared error handler answers
 * JSON 503 — and it deliberately drops the ioredis error, whose `command.args` may hold session records
 * or counters that must never reach a log line.
 */
import { ErrorCode } from '@stagedoor/shared/errors';

export class StoreUnavailableError extends Error {
  readonly code = ErrorCode.serviceUnavailable;
  readonly statusCode = 503;
  constructor(readonly reason: string) {
    super('a store the gateway needs is not answering; try again shortly');
    this.name = 'StoreUnavailableError';
  }
}

/** Errors a store raises on purpose (e.g. a taken email): passed through `storeCall` unchanged. */
export class StoreDomainError extends Error {}

/** Runs a store operation; any failure of the Redis client becomes a `StoreUnavailableError`. */
export async function storeCall<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof StoreUnavailableError || error instanceof StoreDomainError) throw error;
    const reason = error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 200) : 'unknown';
    throw new StoreUnavailableError(reason);
  }
}
