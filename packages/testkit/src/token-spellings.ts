/**
 * Every way a client can spell "here is my token" in an HTTP request (issue 11, section 2), sent as raw
 * bytes over a real socket so that Node's parser, Fastify's router and their error paths all see them as
 * a client would send them. Both apps' log tests send the whole corpus and search what was logged for the
 * token with `findTokenLeaks`. Grow the table: one line per new spelling.
 */
import { connect } from 'node:net';

export interface TokenSpelling {
  name: string;
  /** The request target (path and query), as written on the request line. */
  target?: (token: string) => string;
  /** Header lines, written as given (so invalid spacing and casing reach the server unchanged). */
  headers?: (token: string) => string[];
  method?: string;
  /** The whole request head instead of `target`/`headers` (malformed request lines). */
  raw?: (token: string) => string;
}

const OBJECT = '/v1/objects/catalog/a.wav';
const KEY = 'catalog/a.wav';

/** Every character of `text` percent-encoded, dots and letters included. */
export function percentEncodeAll(text: string): string {
  return [...Buffer.from(text)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

export const TOKEN_SPELLINGS: readonly TokenSpelling[] = [
  // Query parameters: decoded names, any case, arrays, repeats, other names, other delimiters.
  { name: 'query token=', target: (t) => `${OBJECT}?token=${t}` },
  { name: 'query among others', target: (t) => `${OBJECT}?x=1&token=${t}&y=2` },
  { name: 'query %74oken= (encoded name)', target: (t) => `${OBJECT}?%74oken=${t}` },
  { name: 'query to%6Ben=', target: (t) => `${OBJECT}?to%6Ben=${t}` },
  { name: 'query TOKEN=', target: (t) => `${OBJECT}?TOKEN=${t}` },
  { name: 'query Token=', target: (t) => `${OBJECT}?Token=${t}` },
  { name: 'query token[]=', target: (t) => `${OBJECT}?token[]=${t}` },
  { name: 'query token%5B%5D=', target: (t) => `${OBJECT}?token%5B%5D=${t}` },
  { name: 'query token[0]=', target: (t) => `${OBJECT}?token[0]=${t}` },
  { name: 'query repeated token', target: (t) => `${OBJECT}?token=${t}&token=${t}` },
  { name: 'query repeated, token second', target: (t) => `${OBJECT}?token=x&token=${t}` },
  { name: 'query access_token=', target: (t) => `${OBJECT}?access_token=${t}` },
  { name: 'query %61ccess_token=', target: (t) => `${OBJECT}?%61ccess_token=${t}` },
  { name: 'query ACCESS_TOKEN=', target: (t) => `${OBJECT}?ACCESS_TOKEN=${t}` },
  { name: 'query jwt=', target: (t) => `${OBJECT}?jwt=${t}` },
  { name: 'query bare value', target: (t) => `${OBJECT}?${t}` },
  { name: 'query token%3D (encoded =)', target: (t) => `${OBJECT}?token%3D${t}` },
  { name: 'query ;token=', target: (t) => `${OBJECT}?x=1;token=${t}` },
  { name: 'query value fully percent-encoded', target: (t) => `${OBJECT}?token=${percentEncodeAll(t)}` },
  { name: 'query dots encoded', target: (t) => `${OBJECT}?token=${t.replaceAll('.', '%2E')}` },
  { name: 'query with fragment', target: (t) => `${OBJECT}?token=${t}#x` },
  { name: 'query after trailing junk', target: (t) => `${OBJECT}?token=${t}x` },
  { name: 'query on an unknown route', target: (t) => `/nowhere?token=${t}` },
  { name: 'query with a bad percent-escape', target: (t) => `${OBJECT}?token=${t}&x=%zz` },
  { name: 'query on HEAD', method: 'HEAD', target: (t) => `${OBJECT}?token=${t}` },
  { name: 'query on OPTIONS', method: 'OPTIONS', target: (t) => `${OBJECT}?token=${t}` },
  { name: 'query on PUT (no body)', method: 'PUT', target: (t) => `/v1/objects/up/x.wav?token=${t}` },
  { name: 'query on POST', method: 'POST', target: (t) => `/auth/login?token=${t}` },
  { name: 'absolute-form target', target: (t) => `http://127.0.0.1${OBJECT}?token=${t}` },
  // The `/v1/t/<token>/` carrier and spellings of it that route elsewhere or are refused.
  { name: 'path carrier', target: (t) => `/v1/t/${t}/${KEY}` },
  { name: 'path carrier, missing key', target: (t) => `/v1/t/${t}/catalog/missing.wav` },
  { name: 'path carrier, key not covered', target: (t) => `/v1/t/${t}/users/x.wav` },
  { name: 'path carrier, no key', target: (t) => `/v1/t/${t}` },
  { name: 'path carrier, empty key', target: (t) => `/v1/t/${t}/` },
  { name: 'path carrier, bad escape in key', target: (t) => `/v1/t/${t}/catalog/%zz` },
  { name: 'path carrier, bad escape in token', target: (t) => `/v1/t/%zz${t}/${KEY}` },
  { name: 'path //t/', target: (t) => `/v1//t/${t}/${KEY}` },
  { name: 'path /t//', target: (t) => `/v1/t//${t}/${KEY}` },
  { name: 'path /%74/', target: (t) => `/v1/%74/${t}/${KEY}` },
  { name: 'path /V1/t/', target: (t) => `/V1/t/${t}/${KEY}` },
  { name: 'path /v1/T/', target: (t) => `/v1/T/${t}/${KEY}` },
  { name: 'path t%2F (encoded slash before)', target: (t) => `/v1/t%2F${t}/${KEY}` },
  { name: 'path %2F after the token', target: (t) => `/v1/t/${t}%2Fcatalog%2Fa.wav` },
  { name: 'path ./ and ../', target: (t) => `/v1/./x/../t/${t}/${KEY}` },
  { name: 'path trailing junk on the token', target: (t) => `/v1/t/${t}x/${KEY}` },
  { name: 'path ;params on the token', target: (t) => `/v1/t/${t};x=1/${KEY}` },
  { name: 'path t;x segment', target: (t) => `/v1/t;x/${t}/${KEY}` },
  { name: 'path token fully percent-encoded', target: (t) => `/v1/t/${percentEncodeAll(t)}/${KEY}` },
  { name: 'path carrier plus query token', target: (t) => `/v1/t/${t}/${KEY}?token=${t}` },
  { name: 'path token anywhere else', target: (t) => `/nowhere/${t}/x` },
  { name: 'path token as an object key', target: (t) => `/v1/objects/${t}` },
  { name: 'path on HEAD', method: 'HEAD', target: (t) => `/v1/t/${t}/${KEY}` },
  // Headers: Authorization in any case and spacing, twice, cookies, proxies.
  { name: 'Authorization: Bearer', target: () => OBJECT, headers: (t) => [`Authorization: Bearer ${t}`] },
  { name: 'authorization: bearer', target: () => OBJECT, headers: (t) => [`authorization: bearer ${t}`] },
  {
    name: 'AUTHORIZATION, odd spacing',
    target: () => OBJECT,
    headers: (t) => [`AUTHORIZATION:Bearer    ${t}   `],
  },
  { name: 'Authorization with tabs', target: () => OBJECT, headers: (t) => [`Authorization:\tBearer\t${t}`] },
  {
    name: 'Authorization twice',
    target: () => OBJECT,
    headers: (t) => [`Authorization: Bearer ${t}`, `Authorization: Bearer ${t}`],
  },
  { name: 'Authorization, not Bearer', target: () => OBJECT, headers: (t) => [`Authorization: Token ${t}`] },
  {
    name: 'Authorization space before colon (invalid)',
    target: () => OBJECT,
    headers: (t) => [`Authorization : Bearer ${t}`],
  },
  {
    name: 'Authorization folded (obs-fold, invalid)',
    target: () => OBJECT,
    headers: (t) => ['Authorization: Bearer', ` ${t}`],
  },
  {
    name: 'Authorization with a control character (invalid)',
    target: () => OBJECT,
    headers: (t) => [`Authorization: Bearer ${t}\x01`],
  },
  {
    name: 'Authorization in an oversized head (431)',
    target: () => OBJECT,
    headers: (t) => [`Authorization: Bearer ${t}`, `X-Pad: ${'a'.repeat(20_000)}`],
  },
  { name: 'Proxy-Authorization', target: () => OBJECT, headers: (t) => [`Proxy-Authorization: Bearer ${t}`] },
  { name: 'Cookie token=', target: () => OBJECT, headers: (t) => [`Cookie: token=${t}`] },
  { name: 'Cookie sid=', target: () => '/auth/me', headers: (t) => [`Cookie: a=1; sid=${t}`] },
  { name: 'X-Access-Token', target: () => OBJECT, headers: (t) => [`X-Access-Token: ${t}`] },
  // Read as the client address behind a trusted proxy (TRUST_PROXY), and logged as such.
  { name: 'X-Forwarded-For', target: () => OBJECT, headers: (t) => [`X-Forwarded-For: ${t}, 10.0.0.1`] },
  {
    name: 'Referer carrying a token',
    target: () => OBJECT,
    headers: (t) => [`Referer: http://x/?token=${t}`],
  },
  // Request lines the HTTP parser refuses (Node's clientError path keeps the raw bytes on the error).
  { name: 'space in the target (invalid)', raw: (t) => `GET /v1/t/${t}/a b HTTP/1.1\r\nHost: x\r\n\r\n` },
  {
    name: 'DEL in the target (invalid)',
    raw: (t) => `GET ${OBJECT}?token=${t}\x7f HTTP/1.1\r\nHost: x\r\n\r\n`,
  },
  { name: 'bad HTTP version', raw: (t) => `GET ${OBJECT}?token=${t} HTTP/9.9\r\nHost: x\r\n\r\n` },
  { name: 'LF-only line endings', raw: (t) => `GET ${OBJECT}?token=${t} HTTP/1.1\nHost: x\n\n` },
  {
    name: 'request line over the header limit',
    raw: (t) => `GET ${OBJECT}?token=${t}&p=${'b'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
  },
];

export function requestHead(spelling: TokenSpelling, token: string): string {
  if (spelling.raw) return spelling.raw(token);
  const target = spelling.target?.(token) ?? '/';
  const headers = ['Host: 127.0.0.1', ...(spelling.headers?.(token) ?? []), 'Connection: close'];
  return `${spelling.method ?? 'GET'} ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`;
}

/**
 * Sends one request head over a fresh socket and returns the status code of the answer (0 if the server
 * closed without one). Gives up after `timeoutMs`.
 */
export function sendRaw(port: number, head: string, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'));
      resolve(status ? Number(status[1]) : 0);
    });
    socket.write(head);
  });
}

/** Sends the corpus (or part of it), one request at a time; returns each spelling's status code. */
export async function sendTokenSpellings(
  port: number,
  token: string,
  spellings: readonly TokenSpelling[] = TOKEN_SPELLINGS,
): Promise<Map<string, number>> {
  const statuses = new Map<string, number>();
  for (const spelling of spellings)
    statuses.set(spelling.name, await sendRaw(port, requestHead(spelling, token)));
  return statuses;
}

function lenientPercentDecode(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) =>
    Buffer.from(run.replaceAll('%', ''), 'hex').toString('latin1'),
  );
}

/** JSON log lines with every serialized Buffer (`{"type":"Buffer","data":[…]}`) turned back into its text. */
function withBuffersAsText(line: string): string {
  try {
    return JSON.stringify(JSON.parse(line), (_key, value: unknown) => {
      const maybe = value as { type?: unknown; data?: unknown } | null;
      if (maybe && maybe.type === 'Buffer' && Array.isArray(maybe.data)) {
        return Buffer.from(maybe.data as number[]).toString('latin1');
      }
      return value;
    });
  } catch {
    return line;
  }
}

/**
 * What of the token the log lines hold: the token itself, or any 16-character piece of its payload or
 * signature, searched in the lines as written, with Buffers turned back into text, and percent-decoded
 * (so a token logged in another spelling is still found). Returns the pieces found (empty: no leak).
 */
export function findTokenLeaks(lines: readonly string[], token: string): string[] {
  const asText = lines.map(withBuffersAsText).join('\n');
  const views = [
    lines.join('\n'),
    asText,
    lenientPercentDecode(asText),
    lenientPercentDecode(lenientPercentDecode(asText)),
  ];
  const [, payload = '', signature = ''] = token.split('.');
  const pieces = [token];
  for (const part of [payload, signature]) {
    for (let i = 0; i + 16 <= part.length; i += 4) pieces.push(part.slice(i, i + 16));
  }
  return pieces.filter((piece) => views.some((view) => view.includes(piece)));
}
