/**
 * Error codes of the external contract (`shared/CONTRACT.md`, Errors). Both apps answer every error with
 * `{"error": <code>, "message": <text for a person>}`; callers switch on `error`, never on `message`.
 */
export const ErrorCode = {
  invalidRequest: 'invalid_request',
  invalidCredentials: 'invalid_credentials',
  tooManyAttempts: 'too_many_attempts',
  unauthenticated: 'unauthenticated',
  csrfFailed: 'csrf_failed',
  forbidden: 'forbidden',
  notFound: 'not_found',
  invalidKey: 'invalid_key',
  invalidToken: 'invalid_token',
  tokenRevoked: 'token_revoked',
  mediaUnavailable: 'media_unavailable',
  storageUnavailable: 'storage_unavailable',
  serviceUnavailable: 'service_unavailable',
  rangeNotSatisfiable: 'range_not_satisfiable',
  preconditionFailed: 'precondition_failed',
  lengthRequired: 'length_required',
  payloadTooLarge: 'payload_too_large',
  methodNotAllowed: 'method_not_allowed',
  internal: 'internal_error',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorBody {
  error: ErrorCode;
  message: string;
}
