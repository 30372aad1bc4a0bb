/** The gateway's error table: each error carries its contract code (`shared/errors`) and status. */
import createError from '@fastify/error';
import { ErrorCode } from '@stagedoor/shared/errors';

export const InvalidRequest = createError<[string]>(ErrorCode.invalidRequest, '%s', 400);
export const InvalidCredentials = createError(ErrorCode.invalidCredentials, 'wrong email or password', 401);
export const TooManyAttempts = createError(
  ErrorCode.tooManyAttempts,
  'too many failed sign-in attempts; try again later',
  429,
);
/** 429 `too_many_attempts` with `Retry-After` (seconds), from the attempt limiter's answer. */
export function tooManyAttempts(retryAfterSeconds: number): Error {
  return Object.assign(new TooManyAttempts(), { headers: { 'retry-after': String(retryAfterSeconds) } });
}
export const Unauthenticated = createError(ErrorCode.unauthenticated, 'sign in first', 401);
export const CsrfFailed = createError<[string]>(ErrorCode.csrfFailed, '%s', 403);
export const InvalidToken = createError<[string]>(ErrorCode.invalidToken, '%s', 401);
export const Forbidden = createError<[string]>(ErrorCode.forbidden, '%s', 403);
export const NotFound = createError<[string]>(ErrorCode.notFound, '%s', 404);
export const InvalidKey = createError<[string]>(ErrorCode.invalidKey, '%s', 400);
export const MediaUnavailable = createError(
  ErrorCode.mediaUnavailable,
  'the media service is not answering',
  503,
);
export const ServiceUnavailable = createError<[string]>(ErrorCode.serviceUnavailable, '%s', 503);
