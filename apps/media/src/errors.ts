/** Media's error table: each error carries its contract code (`shared/errors`) and status. */
import createError from '@fastify/error';
import { ErrorCode } from '@stagedoor/shared/errors';

export const InvalidRequest = createError<[string]>(ErrorCode.invalidRequest, '%s', 400);
export const InvalidKey = createError<[string]>(ErrorCode.invalidKey, '%s', 400);
export const InvalidToken = createError<[string]>(ErrorCode.invalidToken, '%s', 401);
export const TokenRevoked = createError<[string]>(ErrorCode.tokenRevoked, '%s', 401);
export const Forbidden = createError<[string]>(ErrorCode.forbidden, '%s', 403);
export const NotFound = createError<[string]>(ErrorCode.notFound, '%s', 404);
export const RangeNotSatisfiable = createError(
  ErrorCode.rangeNotSatisfiable,
  'the requested range is not satisfiable',
  416,
);
export const PreconditionFailed = createError(
  ErrorCode.preconditionFailed,
  'a precondition of the request does not hold for the object',
  412,
);
export const LengthRequired = createError(
  ErrorCode.lengthRequired,
  'send Content-Length or a chunked body',
  411,
);
export const PayloadTooLarge = createError(ErrorCode.payloadTooLarge, 'the body is larger than allowed', 413);
export const StorageUnavailable = createError<[string]>(ErrorCode.storageUnavailable, '%s', 503);
export const StorageBadGateway = createError<[string]>(ErrorCode.storageUnavailable, '%s', 502);
export const KeysUnavailable = createError<[string]>(ErrorCode.serviceUnavailable, '%s', 503);
