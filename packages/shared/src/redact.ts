/**
 * Log redaction both apps share: tokens, cookies, Authorization headers, passwords and CSRF tokens never
 * reach a log line. The paths are pino `redact` paths for the request/response serializers.
 */
export const REDACT_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-csrf-token"]',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.cookie',
  'headers.authorization',
  '*.password',
  '*.token',
  '*.csrfToken',
  '*.access_token',
  '*.client_secret',
  'password',
  'token',
  'csrfToken',
];

const TOKEN_QUERY = /([?&](?:token|access_token)=)[^&#]*/gi;
const TOKEN_PATH = /(\/v1\/t\/)[^/?#]+/g;

/** Removes tokens from a URL that is about to be logged: `?token=…` and the `/v1/t/<token>/` segment. */
export function redactUrl(url: string): string {
  return url.replace(TOKEN_QUERY, '$1[REDACTED]').replace(TOKEN_PATH, '$1[REDACTED]');
}
