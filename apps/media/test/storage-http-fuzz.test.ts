/**
 * Differential fuzz of media's storage client (src/storage-http.ts) against Node's own (`node:http`, llhttp in
 * its default strict mode): generated answers, well-formed and malformed (status lines, header lines,
 * framing, chunk lines, line endings, byte mutations, truncations), each written by a raw loopback server in
 * pieces (random boundaries, and every byte boundary of a set of answers) to both clients. Both must reach the
 * same verdict (the answer is accepted whole, or refused) and, when they accept, the same status and body bytes.
 *
 * Node's verdict is `res.complete`: the first answer was read whole. (Bytes after it are a parse error for
 * llhttp only when they arrive in the same read, so its request error then depends on timing; media takes the
 * answer and drops the connection, whatever the timing.)
 *
 * Where the two differ on purpose, the case is named by `intendedDifference` below, with why; media refuses
 * in every one of them. Two limits differ too, and the generator stays clear of the gap between them: media
 * refuses a chunk-size line over 1 KiB (Node: extensions over 16 KiB; S3 sends no extensions), and both cap a
 * head at 16 KiB but count it differently (Node counts the names and values, media every byte). Seeded: the
 * same cases every run.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StorageAnswer, StoragePool } from '../src/storage-http.js';

const SEED = 20261202;
const RANDOM_CASES = 2500;
const PARALLEL = 24;

interface Case {
  wire: Buffer;
  /** Offsets at which the server stops writing and lets the client read (ascending, inside the wire). */
  splits: number[];
}

interface Verdict {
  accepted: boolean;
  status?: number;
  body?: string;
}

/**
 * Answers that media refuses on purpose while Node accepts them, and why (each irrelevant to S3, which sends
 * none of them). Returns the reason, or undefined.
 */
function intendedDifference(wire: string): string | undefined {
  // llhttp also takes HTTP/0.9 and HTTP/2.0 status lines; an HTTP/1.1 client has no use for either.
  if (/(^|\n)HTTP\/(0\.9|2\.0) /.test(wire)) return 'version other than 1.0 and 1.1';
  // llhttp takes any three digits; RFC 9110 §15 defines 100–599, and a 101 answers an upgrade never asked for.
  const statuses = [...wire.matchAll(/(?:^|\n)HTTP\/1\.[01] ([0-9]{3})(?=[ \r])/g)].map((m) => Number(m[1]));
  if (statuses.some((s) => s < 100 || s > 599 || s === 101)) return 'status outside 100-599, or 101';
  // llhttp counts lengths to 2^64; media refuses what a JS number cannot count exactly (beyond 2^53). Node
  // then fails such a body when the connection ends anyway; it accepts only where no body follows (204, 304).
  for (const m of wire.matchAll(/content-length:[ \t]*([0-9]{16,})/gi)) {
    if (!Number.isSafeInteger(Number(m[1]))) return 'content-length beyond 2^53';
  }
  for (const m of wire.matchAll(/\n([0-9a-fA-F]{14,})[;\r\n]/g)) {
    if ((m[1] as string).replace(/^0+/, '').length > 13) return 'chunk size beyond 2^52';
  }
  return undefined;
}

// ---- the two clients --------------------------------------------------------------------------------------

let port = 0;
let server: net.Server;
const cases: Case[] = [];
let storagePool: StoragePool;

async function writeInPieces(socket: net.Socket, c: Case): Promise<void> {
  let from = 0;
  for (const at of [...c.splits, c.wire.length]) {
    if (socket.destroyed) return;
    if (at > from) socket.write(c.wire.subarray(from, at));
    from = at;
    // Two turns of the event loop: the client's read of this piece happens before the next is written.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  }
  socket.end();
}

beforeAll(async () => {
  server = net.createServer((socket) => {
    socket.setNoDelay(true); // each piece goes out at once (Nagle would hold it for the client's delayed ACK)
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      const index = Number(/^GET \/case\/(\d+) /.exec(head)?.[1]);
      const c = cases[index];
      if (c) void writeInPieces(socket, c);
      else socket.destroy();
    };
    socket.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  storagePool = new StoragePool({
    protocol: 'http:',
    hostname: '127.0.0.1',
    port,
    maxSockets: PARALLEL,
    maxFreeSockets: 0, // every case on a connection of its own, as Node's client below
    freeSocketTimeoutMs: 1000,
    connectTimeoutMs: 5000,
  });
});
afterAll(async () => {
  storagePool.destroy();
  await new Promise((r) => server.close(r));
});

function viaNode(index: number): Promise<Verdict> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let response: http.IncomingMessage | undefined;
    const req = http.get({ host: '127.0.0.1', port, path: `/case/${index}`, agent: false }, (res) => {
      response = res;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', () => {});
      res.on('close', () =>
        resolve(
          res.complete
            ? { accepted: true, status: res.statusCode, body: Buffer.concat(chunks).toString('latin1') }
            : { accepted: false },
        ),
      );
    });
    req.on('error', () => {
      if (!response) resolve({ accepted: false });
    });
    req.on('close', () => {
      if (!response) resolve({ accepted: false });
    });
  });
}

/** Media's client; the body read the way Fastify reads it (piped: the pooled buffers themselves) or copied. */
async function viaStorageHttp(index: number, piped: boolean): Promise<Verdict> {
  let answer: StorageAnswer;
  try {
    answer = await storagePool.request({
      method: 'GET',
      path: `/case/${index}`,
      headers: { host: 'storage' },
      signal: new AbortController().signal,
      headTimeoutMs: 10_000,
      idleTimeoutMs: 10_000,
    });
  } catch {
    return { accepted: false };
  }
  const chunks: Buffer[] = [];
  try {
    if (piped) {
      await new Promise<void>((resolve, reject) => {
        const sink = new Writable({
          write(chunk: Buffer, _encoding, callback) {
            chunks.push(Buffer.from(chunk)); // the pooled buffer is read into again once this calls back
            callback();
          },
        });
        sink.on('finish', resolve);
        answer.body.on('error', reject);
        answer.body.pipe(sink);
      });
    } else {
      for await (const chunk of answer.body) chunks.push(chunk as Buffer);
    }
  } catch {
    return { accepted: false };
  }
  return { accepted: true, status: answer.status, body: Buffer.concat(chunks).toString('latin1') };
}

interface Mismatch {
  wire: string;
  splits: number[];
  node: Verdict;
  media: Verdict;
}

/** Runs every case through both clients; returns the ones where they disagree, and how many were skipped. */
async function compare(
  batch: Case[],
): Promise<{ mismatches: Mismatch[]; intended: Map<string, number>; accepted: number; refused: number }> {
  const first = cases.length;
  cases.push(...batch);
  const mismatches: Mismatch[] = [];
  const intended = new Map<string, number>();
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < batch.length; i += PARALLEL) {
    await Promise.all(
      batch.slice(i, i + PARALLEL).map(async (c, j) => {
        const index = first + i + j;
        const [node, media] = await Promise.all([viaNode(index), viaStorageHttp(index, index % 2 === 0)]);
        const wire = c.wire.toString('latin1');
        const same =
          node.accepted === media.accepted && node.status === media.status && node.body === media.body;
        if (same) {
          if (media.accepted) accepted += 1;
          else refused += 1;
          return;
        }
        const why = intendedDifference(wire);
        if (why !== undefined && !media.accepted) intended.set(why, (intended.get(why) ?? 0) + 1);
        else mismatches.push({ wire, splits: c.splits, node, media });
      }),
    );
  }
  return { mismatches, intended, accepted, refused };
}

// ---- generated answers ------------------------------------------------------------------------------------

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
/** Characters that break one rule or another somewhere in a head. */
const AWKWARD = [
  '\x00',
  '\x01',
  '\t',
  ' ',
  '\x0b',
  '\x7f',
  '\x80',
  '\xff',
  '"',
  '(',
  ':',
  ';',
  '=',
  ',',
  '\\',
  '\r',
  '\n',
];

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const awkwardText = (maxLength: number) =>
  fc
    .array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...TCHARS, ' ') }, fc.constantFrom(...AWKWARD)), {
      maxLength,
    })
    .map((cs) => cs.join(''));

/** A line ending: almost always CRLF, else one of the wrong ones. */
const eol = fc.oneof(
  { weight: 30, arbitrary: fc.constant('\r\n') },
  fc.constantFrom('\n', '\r', '\r\r\n', '\n\r', ''),
);

const statusLine = fc
  .oneof(
    { weight: 8, arbitrary: fc.tuple(fc.constantFrom('0', '1'), fc.constantFrom(200, 206, 404, 500)) },
    fc.tuple(fc.constantFrom('0', '1'), fc.constantFrom(204, 304, 0, 99, 101, 199, 600, 999)),
  )
  .chain(([minor, status]) =>
    fc
      .tuple(
        fc.oneof(
          { weight: 10, arbitrary: fc.constant(`HTTP/1.${minor}`) },
          fc.constantFrom(
            'HTTP/2.0',
            'HTTP/0.9',
            'HTTP/1.2',
            'http/1.1',
            'HTTP/11',
            'HTTP/1.10',
            ' HTTP/1.1',
          ),
        ),
        fc.oneof({ weight: 10, arbitrary: fc.constant(' ') }, fc.constantFrom('  ', '\t', '')),
        fc.oneof(
          { weight: 10, arbitrary: fc.constant(String(status).padStart(3, '0')) },
          fc.constantFrom('20', '2000', '2x0', '-20', '+200'),
        ),
        fc.oneof(
          { weight: 3, arbitrary: fc.constant(' OK') },
          fc.constant(''),
          fc.constant(' '),
          awkwardText(8).map((r) => ` ${r}`),
        ),
      )
      .map(([version, sep, code, reason]) => ({ text: `${version}${sep}${code}${reason}`, status })),
  );

const fieldName = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('ETag', 'x-amz-request-id', 'Content-Type', 'Server', 'Connection', 'X'),
  },
  token,
  fc.constantFrom('__proto__', 'constructor', 'toString'),
  awkwardText(6),
  fc.constant(''),
);
const fieldValue = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('"abc"', 'text/plain', 'keep-alive', 'close', 'AmazonS3', '') },
  awkwardText(16),
);
const fieldSeparator = fc.oneof(
  { weight: 10, arbitrary: fc.constant(': ') },
  fc.constantFrom(':', ' : ', ':\t', ': \t', '\t:'),
);
const otherField = fc
  .tuple(
    fieldName,
    fieldSeparator,
    fieldValue,
    fc.constantFrom('', '', '', ' ', '\t'),
    fc.constantFrom('', '', '', ' ', '\t'),
  )
  .map(([name, sep, value, lead, trail]) => `${lead}${name}${sep}${value}${trail}`);

const contentLength = (n: number) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant(String(n)) },
    fc.constantFrom(
      String(n + 1),
      String(Math.max(0, n - 1)),
      `00${n}`,
      `+${n}`,
      `-${n}`,
      ` ${n} `,
      `${n}\t`,
      `${n}, ${n}`,
      `${n} ${n}`,
      '',
      `0x${n.toString(16)}`,
      '9007199254740993',
      '18446744073709551615',
      '18446744073709551616',
      '99999999999999999999999',
    ),
  );
const transferEncoding = fc.oneof(
  { weight: 12, arbitrary: fc.constant('chunked') },
  fc.constantFrom(
    'Chunked',
    'gzip, chunked',
    'chunked, gzip',
    ',chunked',
    'chunked,',
    'chunked ',
    'chunked\t',
    '',
    'xchunked',
    'gzip ,\tchunked',
    'chunked;q=1',
  ),
);

const chunkExtension = fc.oneof(
  { weight: 8, arbitrary: fc.constant('') },
  fc.constantFrom(
    ';a=b',
    ';a',
    ';a="b c"',
    ';=b',
    ';a=',
    ';a="b\\"c"',
    ';a=b;c',
    '; a=b',
    ';',
    ';a;',
    ';a=b c',
    ';a="b',
    ';a=b=c',
    ' ;a',
    ';a="\x01"',
  ),
  // Well past both limits (media's 1 KiB chunk line, Node's 16 KiB of extensions): refused by both.
  fc.constant(`;a=${'b'.repeat(17 * 1024)}`),
  fc.stringMatching(/^(;[a-z]{1,8}(=[a-z0-9]{0,12})?){1,4}$/),
);
const chunkSize = (n: number) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(n.toString(16), n.toString(16).toUpperCase()) },
    fc.constantFrom(
      `000${n.toString(16)}`,
      ` ${n.toString(16)}`,
      `${n.toString(16)} `,
      `${n.toString(16)}\t`,
      `+${n.toString(16)}`,
      '',
      'g',
      'ffffffffffffffffff',
      `${'0'.repeat(20)}${n.toString(16)}`,
    ),
  );

/** A chunked body: the payload cut into chunks, each line and ending possibly wrong, then trailers. */
function chunkedBody(payload: string) {
  return fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 0, maxLength: 6 }).chain((cuts) => {
    const sizes: number[] = [];
    let left = payload.length;
    for (const cut of cuts) {
      if (left === 0) break;
      const n = Math.min(cut, left);
      sizes.push(n);
      left -= n;
    }
    if (left > 0) sizes.push(left);
    let at = 0;
    const pieces = sizes.map((n) => {
      const data = payload.slice(at, at + n);
      at += n;
      return fc
        .tuple(
          chunkSize(n),
          chunkExtension,
          eol,
          fc.oneof({ weight: 12, arbitrary: eol }, fc.constantFrom('x\r\n', '')),
        )
        .map(([size, ext, e1, e2]) => `${size}${ext}${e1}${data}${e2}`);
    });
    const trailer = fc
      .array(
        fc.oneof(
          { weight: 3, arbitrary: otherField },
          fc.constantFrom('Content-Length: 5', 'Transfer-Encoding: gzip', ' folded'),
        ),
        { maxLength: 2 },
      )
      .chain((lines) => fc.tuple(...lines.map((l) => eol.map((e) => `${l}${e}`))).map((ls) => ls.join('')));
    return fc
      .tuple(fc.tuple(...pieces), fc.constantFrom('0', '00', '0;x=y', '0 ', ''), eol, trailer, eol)
      .map(([chunks, last, e1, trailers, e2]) => `${chunks.join('')}${last}${e1}${trailers}${e2}`);
  });
}

const framed = fc
  .tuple(
    fc.constantFrom('length', 'length', 'length', 'chunked', 'chunked', 'close', 'both', 'two-lengths'),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  )
  .chain(([framing, payload]) => {
    const cl = contentLength(payload.length).map((v) => `Content-Length: ${v}`);
    const te = transferEncoding.map((v) => `Transfer-Encoding: ${v}`);
    switch (framing) {
      case 'length':
        return fc.tuple(fc.tuple(cl), fc.constant(payload));
      case 'two-lengths':
        return fc.tuple(fc.tuple(cl, cl), fc.constant(payload));
      case 'chunked':
        return fc.tuple(fc.tuple(te), chunkedBody(payload));
      case 'both':
        return fc.tuple(fc.tuple(te, cl), chunkedBody(payload));
      default:
        return fc.tuple(fc.constant([] as string[]), fc.constant(payload));
    }
  });

const answer = fc
  .record({
    leading: fc.constantFrom('', '', '', '', '\r\n', '\n', '\r\n\r\n'),
    interim: fc.constantFrom(
      '',
      '',
      '',
      '',
      'HTTP/1.1 100 Continue\r\n\r\n',
      'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n',
      'HTTP/1.1 100 Continue\r\nContent-Length: x\r\n\r\n',
    ),
    status: statusLine,
    statusEol: eol,
    framing: framed,
    others: fc.array(fc.tuple(otherField, eol), { maxLength: 4 }),
    headEnd: eol,
    trailing: fc.constantFrom('', '', '', '', '', 'EXTRA', 'HTTP/1.1 200 OK\r\n\r\n'),
  })
  .chain((a) => {
    const [framingFields, body] = a.framing;
    // The framing fields go in among the others, each with its own line ending.
    return fc
      .tuple(fc.tuple(...framingFields.map((f) => eol.map((e) => `${f}${e}`))), fc.nat())
      .map(([fields, at]) => {
        const lines = a.others.map(([f, e]) => `${f}${e}`);
        lines.splice(at % (lines.length + 1), 0, ...fields);
        return `${a.leading}${a.interim}${a.status.text}${a.statusEol}${lines.join('')}${a.headEnd}${body}${a.trailing}`;
      });
  });

/** Byte-level damage on top: one byte changed, inserted or deleted, or the answer cut short. */
const damaged = fc
  .tuple(
    answer,
    fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      fc.record({
        kind: fc.constantFrom('replace', 'insert', 'delete', 'truncate'),
        at: fc.nat(),
        byte: fc.oneof(
          fc.constantFrom(0, 9, 10, 13, 32, 34, 44, 58, 59, 127, 255),
          fc.integer({ min: 0, max: 255 }),
        ),
      }),
    ),
    fc.array(fc.nat(), { maxLength: 4 }),
  )
  .map(([text, damage, splitSeeds]): Case => {
    let wire = Buffer.from(text, 'latin1');
    if (damage && wire.length > 0) {
      const at = damage.at % wire.length;
      const before = wire.subarray(0, at);
      const after = wire.subarray(at + 1);
      if (damage.kind === 'replace') wire = Buffer.concat([before, Buffer.of(damage.byte), after]);
      else if (damage.kind === 'insert')
        wire = Buffer.concat([wire.subarray(0, at), Buffer.of(damage.byte), wire.subarray(at)]);
      else if (damage.kind === 'delete') wire = Buffer.concat([before, after]);
      else wire = wire.subarray(0, at);
    }
    const splits = [...new Set(splitSeeds.map((s) => (wire.length > 1 ? 1 + (s % (wire.length - 1)) : 0)))]
      .filter((s) => s > 0)
      .sort((x, y) => x - y);
    return { wire, splits };
  });

/** Answers split at every byte boundary. */
const EVERY_BOUNDARY = [
  'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nETag: "e"\r\n\r\nhello world',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\n\r\nabc',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n1\r\n \r\n5;q="x y"\r\nworld\r\n0\r\nx-t: 1\r\n\r\n',
  'HTTP/1.0 200 OK\r\nServer: s\r\n\r\nuntil the end',
  'HTTP/1.1 200 OK\r\nContent-Length: 5\nETag: "e"\r\n\r\nhello',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 5\r\n\r\nhello',
  'HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 5\r\n\r\nhello',
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello',
  'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhello',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n',
  'HTTP/1.1 200 O\rK\r\nContent-Length: 5\r\n\r\nhello',
];

function describeMismatches(mismatches: Mismatch[]): string {
  return mismatches
    .slice(0, 10)
    .map(
      (m) =>
        `${JSON.stringify(m.wire)} splits=${JSON.stringify(m.splits)} node=${JSON.stringify(m.node)} media=${JSON.stringify(m.media)}`,
    )
    .join('\n');
}

describe('storage client against node:http (differential fuzz)', () => {
  it(`agrees with Node on ${RANDOM_CASES} generated answers split at random boundaries`, async () => {
    const batch = fc.sample(damaged, { seed: SEED, numRuns: RANDOM_CASES });
    const { mismatches, intended, accepted, refused } = await compare(batch);
    expect(describeMismatches(mismatches)).toBe('');
    // The generator reaches both verdicts in earnest (about one in five accepted by both with this seed), and
    // the intended differences stay a small share.
    expect(accepted).toBeGreaterThan(RANDOM_CASES / 10);
    expect(refused).toBeGreaterThan(RANDOM_CASES / 2);
    expect([...intended.values()].reduce((a, b) => a + b, 0)).toBeLessThan(RANDOM_CASES / 20);
  }, 60_000);

  it('agrees with Node on answers split at every byte boundary', async () => {
    const batch: Case[] = [];
    for (const text of EVERY_BOUNDARY) {
      const wire = Buffer.from(text, 'latin1');
      for (let at = 1; at < wire.length; at++) batch.push({ wire, splits: [at] });
      // …and a byte at a time.
      batch.push({ wire, splits: Array.from({ length: wire.length - 1 }, (_, i) => i + 1) });
    }
    const { mismatches, intended, accepted } = await compare(batch);
    expect(describeMismatches(mismatches)).toBe('');
    expect(intended.size).toBe(0);
    expect(accepted).toBeGreaterThan(0);
  }, 60_000);
});
