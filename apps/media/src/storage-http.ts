/**
 * HTTP/1.1 to storage on media's own keep-alive pool, each socket read into a few pooled buffers
 * (`net.Socket` `onread`) that go straight to the client's socket and are read into again once written.
 *
 * Why not `node:http`: its client allocates a fresh 64 KiB buffer for every socket read and passes each
 * through two streams. At 1 GB/s that is ~16k buffers a second for V8 to collect, and it was most of
 * media's CPU per byte and of its RSS under many streams (bench/RESULTS.md, README design notes: media).
 *
 * The protocol is the part of RFC 9112 that a GET or HEAD to S3 needs: one request at a time per connection
 * (no pipelining); a body framed by Content-Length, by chunked coding, or by the connection closing; 1xx
 * answers skipped. A connection goes back to the pool only after a complete, framed answer on a keep-alive
 * connection with nothing extra on the wire. A request that fails on a reused connection before any byte of
 * an answer (the server closed it while it sat idle) is sent once more on a new one.
 *
 * Memory safety of the reuse: a buffer is read into again only after every write of it has called back,
 * which Node does once the kernel has the bytes (or the write was dropped). If a write never calls back,
 * its buffer is simply never reused (and nothing is written to a client that is gone: see `deliver`).
 */
import type { IncomingHttpHeaders } from 'node:http';
import * as net from 'node:net';
import { Readable, type Writable } from 'node:stream';
import * as tls from 'node:tls';

/** Storage answered, with an error status. `code` is S3's error code (`NoSuchKey`, `InvalidRange`, …). */
export class StorageResponseError extends Error {
  override readonly name = 'StorageResponseError';
  constructor(
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(`storage answered ${status}${code ? ` ${code}` : ''}`);
  }
}

/** Storage did not answer (refused, reset, timed out) or answered with something that is not HTTP. */
export class StorageRequestError extends Error {
  override readonly name = 'StorageRequestError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export function abortError(): Error {
  return Object.assign(new Error('the request was aborted'), { name: 'AbortError' });
}

/**
 * Read buffers. A stream reads into large ones while few are out (fewer reads, writes and callbacks per
 * byte: a single stream moves ~25 % more here), and into small ones once the large ones are all taken,
 * so many streams at once stay within a bounded footprint (bench/RESULTS.md).
 */
const LARGE_BUFFER = 256 * 1024;
const SMALL_BUFFER = 64 * 1024;
/** Large buffers in the process at most: 8 MiB, enough for eight streams at full speed. */
const LARGE_BUFFERS_MAX = 32;
/** Buffers a connection reads into: one in the socket, the rest in flight to the client or free. */
const BUFFERS_PER_CONNECTION = 4;
/** Free small buffers kept for reuse at most (16 MiB). */
const SPARE_SMALL_MAX = 256;
/** A head (status line and header lines) or a trailer section, in bytes at most: Node's default too. */
const HEAD_LIMIT = 16 * 1024;
/**
 * A chunk-size line (size and extensions) at most. Tighter than Node's 16 KiB of extensions: S3 sends none,
 * and a line is held as a string until its end arrives.
 */
const CHUNK_LINE_LIMIT = 1024;
const LF = 10;
const CR = 13;
// The grammar below is RFC 9112's, as strict as llhttp (Node's parser) in its default, non-lenient mode;
// test/storage-http-fuzz.test.ts holds the two side by side.
/** RFC 9112 §4: the status line. The reason phrase is not used; llhttp takes any byte but CR and LF there. */
const STATUS_LINE = /^HTTP\/1\.([01]) ([0-9]{3})(?: [^\r]*)?$/;
/** RFC 9110 §5.6.2 token: a header name or chunk extension name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Bytes a header value may not hold (RFC 9110 §5.5): controls other than HTAB, and DEL. */
const INVALID_FIELD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/**
 * RFC 9112 §7.1.1 chunk-size and chunk extensions, without the whitespace RFC 9112 only tolerates (llhttp's
 * strict mode refuses it too): `;name`, `;name=token`, `;name="quoted"`, the name empty only before `=`.
 */
const CHUNK_SIZE_LINE =
  /^([0-9A-Fa-f]+)((?:;(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]*|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"))?|=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]*|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*")))*)$/;
/** Hex digits of a chunk size that fit in a safe integer once leading zeros are gone (13 × 4 = 52 bits). */
const CHUNK_SIZE_DIGITS_MAX = 13;

/**
 * One header line (RFC 9112 §5): a token, a colon, the value with its surrounding whitespace (SP, HTAB) taken
 * off. No whitespace before the colon or at the start of the line (that would be obs-fold), no controls in
 * the value. Returns the lower-case name, the value, and the value before its trailing whitespace was cut.
 */
function parseFieldLine(line: string): { name: string; value: string; untrimmed: string } {
  const colon = line.indexOf(':');
  const name = colon === -1 ? '' : line.slice(0, colon);
  if (!TOKEN.test(name)) throw new Error('bad header name');
  const untrimmed = line.slice(colon + 1).replace(/^[ \t]+/, '');
  if (INVALID_FIELD_VALUE.test(untrimmed)) throw new Error('bad header value');
  return { name: name.toLowerCase(), value: untrimmed.replace(/[ \t]+$/, ''), untrimmed };
}

/** A line's text without its CRLF; a line that ends in a bare LF, or holds a CR elsewhere, is refused. */
function withoutCrlf(line: string): string {
  if (line.charCodeAt(line.length - 1) !== CR) throw new Error('bare LF');
  const text = line.slice(0, -1);
  if (text.includes('\r')) throw new Error('CR without LF');
  return text;
}
const INVALID_PATH = /[^\x21-\x7e]/;

const spareLarge: Buffer[] = [];
const spareSmall: Buffer[] = [];
let largeBuffers = 0;
// A large buffer that is never given back (a write that never called back) is collected as garbage; its place
// in the budget comes back with it.
const lostLargeBuffers = new FinalizationRegistry<undefined>(() => {
  largeBuffers -= 1;
});
function takeBuffer(): Buffer {
  const large = spareLarge.pop();
  if (large) return large;
  if (largeBuffers < LARGE_BUFFERS_MAX) {
    largeBuffers += 1;
    const buffer = Buffer.allocUnsafeSlow(LARGE_BUFFER);
    lostLargeBuffers.register(buffer, undefined);
    return buffer;
  }
  return spareSmall.pop() ?? Buffer.allocUnsafeSlow(SMALL_BUFFER);
}
/** `buffer` is no longer read into or written from. (One never given back is collected as garbage.) */
function giveBackBuffer(buffer: Buffer): void {
  if (buffer.length === LARGE_BUFFER) spareLarge.push(buffer);
  else if (spareSmall.length < SPARE_SMALL_MAX) spareSmall.push(buffer);
}

/** Buffers in the process-wide spare lists (for tests). */
export function spareBufferCounts(): { large: number; small: number; largeAllocated: number } {
  return { large: spareLarge.length, small: spareSmall.length, largeAllocated: largeBuffers };
}

export interface StoragePoolOptions {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  /** TLS server name (the virtual host's name when addressing is virtual-hosted). */
  servername?: string;
  maxSockets: number;
  maxFreeSockets: number;
  /** An idle pooled connection is closed after this long. */
  freeSocketTimeoutMs: number;
  connectTimeoutMs: number;
  lookup?: net.LookupFunction;
  /** More TLS options (a CA, say). */
  tls?: tls.ConnectionOptions;
}

export interface StorageRequest {
  method: 'GET' | 'HEAD';
  path: string;
  /** Sent as given (lower-case names); no others are added. */
  headers: Record<string, string>;
  signal: AbortSignal;
  /** From asking (waiting for a connection included) to the answer's head. */
  headTimeoutMs: number;
  /** Longest silence on the connection while the answer is read. */
  idleTimeoutMs: number;
}

export interface StorageAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body; already ended when there is none (HEAD, 204, 304). */
  body: StorageBody;
}

type Framing = { kind: 'none' } | { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' };

type Emit = (buffer: Buffer, start: number, end: number) => void;

/** RFC 9112 §7.1 chunked coding, decoded across reads. */
class ChunkedDecoder {
  #state: 'size' | 'data' | 'data-end' | 'trailer' = 'size';
  #line = '';
  #left = 0;
  #trailerBytes = 0;
  done = false;

  /** Emits the data in [start, end); returns where the coding ended, or `end`. Throws on bad framing. */
  decode(buffer: Buffer, start: number, end: number, emit: Emit): number {
    let i = start;
    while (i < end && !this.done) {
      if (this.#state === 'data') {
        const n = Math.min(this.#left, end - i);
        emit(buffer, i, i + n);
        i += n;
        this.#left -= n;
        if (this.#left === 0) this.#state = 'data-end';
        continue;
      }
      const found = buffer.subarray(i, end).indexOf(LF);
      const stop = found === -1 ? end : i + found;
      this.#line += buffer.toString('latin1', i, stop);
      if (this.#state === 'trailer') {
        this.#trailerBytes += stop - i;
        if (this.#trailerBytes > HEAD_LIMIT) throw new Error('trailers too large');
      } else if (this.#line.length > CHUNK_LINE_LIMIT) {
        throw new Error('chunk line too long');
      }
      i = stop;
      if (found === -1) break;
      i += 1;
      const line = withoutCrlf(this.#line);
      this.#line = '';
      if (this.#state === 'data-end') {
        if (line !== '') throw new Error('chunk not followed by CRLF');
        this.#state = 'size';
      } else if (this.#state === 'size') {
        const digits = CHUNK_SIZE_LINE.exec(line)?.[1]?.replace(/^0+/, '');
        if (digits === undefined) throw new Error('bad chunk size');
        // Larger than any body media could count: refused rather than rounded.
        if (digits.length > CHUNK_SIZE_DIGITS_MAX) throw new Error('chunk size too large');
        this.#left = digits === '' ? 0 : Number.parseInt(digits, 16);
        this.#state = this.#left === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.done = true;
      } else {
        // Trailer fields are checked as header fields, and discarded. Content-Length beside chunked coding is
        // refused there as in the head (llhttp does the same).
        if (parseFieldLine(line).name === 'content-length') throw new Error('content-length in trailers');
      }
    }
    return i;
  }
}

/**
 * One answer's body. Piped to a `Writable` (Fastify sends it to the client this way) it writes the pooled
 * buffers themselves, with backpressure by buffer count; read as a plain stream it gives copies.
 */
export class StorageBody extends Readable {
  #exchange: Exchange | undefined;
  #mode: 'unread' | 'direct' | 'copy' = 'unread';
  #dest: Writable | undefined;
  #skip = 0;
  #left = Number.POSITIVE_INFINITY;
  readonly #empty: boolean;
  /** Hears of body bytes a piped destination has written (its write called back without an error). */
  countWritten: ((bytes: number) => void) | undefined;

  constructor(exchange: Exchange | undefined) {
    super();
    this.#exchange = exchange;
    this.#empty = exchange === undefined;
    if (!exchange) this.push(null);
  }

  /** Gives only bytes [skip, skip + length) of the body (for stores that answer more than was asked). */
  window(skip: number, length: number): this {
    this.#skip = skip;
    this.#left = length;
    return this;
  }

  /**
   * Fastify sends a stream payload with `payload.pipe(reply.raw)` (lib/reply.js `sendStream`), after setting the
   * headers on the response; that call is what puts the body on the direct path. Relying on it rather than
   * `reply.hijack()` keeps Fastify's whole reply lifecycle (onSend hooks, the response log, its error handling
   * of a body that fails midway, destroying the body when the client leaves), which hijacking would have media
   * redo by hand. The price is a dependence on an undocumented call: test/storage-http-fastify.test.ts fails
   * loudly if Fastify stops making it (and the other paths stay correct, only slower: any other reader gets
   * copies, `{ end: false }` included).
   */
  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    if (this.#mode !== 'unread' || options?.end === false || !this.#exchange) {
      return super.pipe(destination, options);
    }
    this.#mode = 'direct';
    this.#dest = destination as unknown as Writable;
    this.resume(); // no data events: this only lets 'end' be emitted when the body is done
    this.#exchange.attach();
    return destination;
  }

  override _read(): void {
    if (this.#mode === 'unread') {
      this.#mode = 'copy';
      this.#exchange?.attach();
    } else if (this.#mode === 'copy') {
      this.#exchange?.wantMore();
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const exchange = this.#exchange;
    this.#exchange = undefined;
    exchange?.abandon();
    callback(error);
  }

  /** Where the body writes its pooled buffers, when piped on the direct path (for tests). */
  get pipedTo(): Writable | undefined {
    return this.#mode === 'direct' ? this.#dest : undefined;
  }

  /** No reader yet: the exchange holds back what arrives. */
  get unread(): boolean {
    return this.#mode === 'unread';
  }

  /** An answer without a body (HEAD, 204, 304, Content-Length 0). */
  get empty(): boolean {
    return this.#empty;
  }

  /**
   * Bytes [start, end) of `buffer` are body. `hold`/`release` count the writes of the buffer still in
   * flight. Returns false if the body's window is full (nothing more is wanted).
   */
  deliver(buffer: Buffer, start: number, end: number, hold: () => void, release: () => void): boolean {
    let from = start;
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, end - from);
      this.#skip -= n;
      from += n;
    }
    const to = from + Math.min(this.#left, end - from);
    if (to > from) {
      this.#left -= to - from;
      if (this.#mode === 'direct') {
        const dest = this.#dest as Writable & { socket?: { destroyed?: boolean; writable?: boolean } | null };
        if (dest.destroyed || dest.socket?.destroyed || dest.socket?.writable === false) {
          // The client is gone. Node's response drops a write to a closed socket, and keeps one to a socket
          // that can no longer be written, without ever calling it back: the buffer would never come back
          // (the FinalizationRegistry above is only the safety net). Stop reading for it instead.
          this.destroy();
          return false;
        }
        hold();
        const count = this.countWritten;
        const n = to - from;
        dest.write(
          buffer.subarray(from, to),
          count === undefined
            ? release
            : (error?: Error | null) => {
                if (!error) count(n);
                release();
              },
        );
      } else if (!this.push(Buffer.from(buffer.subarray(from, to)))) {
        this.#exchange?.pauseForReader();
      }
    }
    return this.#left > 0;
  }

  /** The body (or its window) is complete. */
  finish(): void {
    this.#exchange = undefined;
    if (this.#mode === 'direct') this.#dest?.end();
    this.push(null);
  }

  /** The body broke off. */
  fail(error: Error): void {
    this.#exchange = undefined;
    this.destroy(error);
  }
}

interface Head {
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  status: number;
  /** Lower-case names on an object without a prototype, so no name (`__proto__`) reaches one. */
  headers: IncomingHttpHeaders;
  contentLength: number | undefined;
  /** Whether the Transfer-Encoding ends in chunked; undefined without one. */
  chunked: boolean | undefined;
}

/**
 * One head (RFC 9112 §2.1: status line, header lines, an empty line), read line by line across reads. Every
 * line ends in CRLF; empty lines before the status line are skipped, as llhttp does.
 */
class HeadReader {
  #line = '';
  #bytes = 0;
  #head: Head | undefined;
  complete: Head | undefined;

  /** Reads head bytes of [offset, length); returns the offset after them. Throws on a malformed head. */
  read(buffer: Buffer, offset: number, length: number): number {
    let i = offset;
    while (i < length && !this.complete) {
      if (!this.#head && this.#line === '') {
        // Before the status line: llhttp skips CR and LF bytes there (RFC 9112 §2.2 asks a server to
        // tolerate an empty line before a request).
        const start = i;
        while (i < length && (buffer[i] === CR || buffer[i] === LF)) i += 1;
        this.#bytes += i - start;
        if (i === length) break;
      }
      const found = buffer.subarray(i, length).indexOf(LF);
      const stop = found === -1 ? length : i + found;
      this.#bytes += stop - i + (found === -1 ? 0 : 1);
      if (this.#bytes > HEAD_LIMIT) throw new Error('head too large');
      this.#line += buffer.toString('latin1', i, stop);
      i = stop;
      if (found === -1) break;
      i += 1;
      const line = withoutCrlf(this.#line);
      this.#line = '';
      this.#readLine(line);
    }
    return i;
  }

  #readLine(line: string): void {
    const head = this.#head;
    if (!head) {
      const statusLine = STATUS_LINE.exec(line);
      if (!statusLine) throw new Error('bad status line');
      const status = Number(statusLine[2]);
      // Only RFC 9110's 100–599. No upgrade is ever asked for, so a 101 (followed by something that is not
      // HTTP) is as wrong as a status outside the range.
      if (status < 100 || status > 599 || status === 101) throw new Error('bad status');
      this.#head = {
        minor: Number(statusLine[1]),
        status,
        headers: Object.create(null) as IncomingHttpHeaders,
        contentLength: undefined,
        chunked: undefined,
      };
      return;
    }
    if (line === '') {
      // RFC 9112 §6.3: both framings at once is a smuggling shape; llhttp refuses it, and so does media.
      if (head.chunked !== undefined && head.contentLength !== undefined) {
        throw new Error('content-length beside transfer-encoding');
      }
      this.complete = head;
      return;
    }
    const { name, value, untrimmed } = parseFieldLine(line);
    if (name === 'content-length') {
      // One Content-Length of digits (RFC 9110 §8.6), within what a JS number counts exactly. Duplicates are
      // refused even when they agree, as llhttp does.
      if (head.contentLength !== undefined) throw new Error('duplicate content-length');
      const n = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
      if (!Number.isSafeInteger(n)) throw new Error('bad content-length');
      head.contentLength = n;
    } else if (name === 'transfer-encoding') {
      if (value === '') throw new Error('empty transfer-encoding');
      // Chunked when the last coding of the last Transfer-Encoding line is; read as llhttp reads it (trailing
      // spaces are ignored there, a trailing HTAB is not), so the two agree on where a body ends.
      const last = untrimmed.slice(untrimmed.lastIndexOf(',') + 1);
      head.chunked =
        last
          .replace(/^[ \t]+/, '')
          .replace(/ +$/, '')
          .toLowerCase() === 'chunked';
    }
    const seen = head.headers[name];
    head.headers[name] = seen === undefined ? value : `${seen}, ${value}`;
  }
}

/** One request and its answer on one connection. */
class Exchange {
  readonly request: StorageRequest;
  readonly #connection: Connection;
  readonly #onHead: (answer: StorageAnswer) => void;
  readonly #onFail: (error: StorageRequestError, nothingReceived: boolean) => void;
  /** `complete`: the whole answer is read, the connection not yet handed back. */
  #phase: 'head' | 'body' | 'complete' | 'done' = 'head';
  /** The head being read (a 1xx head, then the answer's): see `#readHead`. */
  #head: HeadReader = new HeadReader();
  #sawBytes = false;
  #framing: Framing = { kind: 'none' };
  #chunked: ChunkedDecoder | undefined;
  #keepAlive = true;
  #body: StorageBody | undefined;
  /** Body bytes of the read that completed the head, delivered once the body has a reader. */
  #pending: { buffer: Buffer; start: number; end: number; hold: () => void; release: () => void } | undefined;
  #readerPaused = false;

  constructor(
    connection: Connection,
    request: StorageRequest,
    onHead: (answer: StorageAnswer) => void,
    onFail: (error: StorageRequestError, nothingReceived: boolean) => void,
  ) {
    this.#connection = connection;
    this.request = request;
    this.#onHead = onHead;
    this.#onFail = onFail;
  }

  /** Data arrived: returns whether the connection should keep reading for this exchange. */
  onData(buffer: Buffer, length: number): boolean {
    this.#sawBytes = true;
    const { hold, release } = this.#holder(buffer);
    try {
      let offset = 0;
      while (this.#phase === 'head' && offset < length) offset = this.#readHead(buffer, offset, length);
      if (this.#phase === 'body' && offset < length) {
        if (this.#body?.unread) {
          this.#pending = { buffer, start: offset, end: length, hold, release };
          return false;
        }
        offset = this.#readBody(buffer, offset, length, hold, release);
      }
      if (this.#phase === 'complete') this.#settle(offset < length);
    } catch (error) {
      this.#broken(malformed(error));
    }
    release();
    if (this.#phase === 'head') return true; // the rest of the head is still to come
    return this.#phase === 'body' && this.#wantsReading();
  }

  /** Counts the writes of `buffer` still in flight; the last one done gives the buffer back. */
  #holder(buffer: Buffer): { hold: () => void; release: () => void } {
    let holds = 1;
    return {
      hold: () => {
        holds += 1;
      },
      release: () => {
        holds -= 1;
        if (holds === 0) this.#connection.releaseBuffer(buffer, this);
      },
    };
  }

  /** Media has stopped reading storage because the body's reader cannot take more yet (not storage's fault). */
  get waitingForReader(): boolean {
    return this.#phase === 'body' && !this.#body?.unread && !this.#wantsReading();
  }

  #wantsReading(): boolean {
    if (this.#body?.unread || this.#readerPaused) return false;
    return this.#connection.freeBuffers > 1;
  }

  /** Reads head bytes; returns the offset after them. */
  #readHead(buffer: Buffer, offset: number, length: number): number {
    const consumed = this.#head.read(buffer, offset, length);
    const head = this.#head.complete;
    if (!head) return consumed;
    this.#head = new HeadReader();
    if (head.status < 200) return consumed; // 1xx: the real answer follows
    const connectionHeader = String(head.headers.connection ?? '').toLowerCase();
    this.#keepAlive =
      head.minor === 1 ? !connectionHeader.includes('close') : connectionHeader.includes('keep-alive');
    this.#framing = this.#framingOf(head);
    if (this.#framing.kind === 'chunked') this.#chunked = new ChunkedDecoder();
    if (this.#framing.kind === 'close') this.#keepAlive = false;
    const hasBody =
      this.#framing.kind !== 'none' && !(this.#framing.kind === 'length' && this.#framing.left === 0);
    this.#body = new StorageBody(hasBody ? this : undefined);
    this.#phase = hasBody ? 'body' : 'complete';
    this.#onHead({ status: head.status, headers: head.headers, body: this.#body });
    return consumed;
  }

  #framingOf(head: Head): Framing {
    if (this.request.method === 'HEAD' || head.status === 204 || head.status === 304) return { kind: 'none' };
    // RFC 9112 §6.3: chunked last means chunked; any other coding is read until the connection closes.
    if (head.chunked !== undefined) return head.chunked ? { kind: 'chunked' } : { kind: 'close' };
    if (head.contentLength !== undefined) return { kind: 'length', left: head.contentLength };
    return { kind: 'close' };
  }

  /** Reads body bytes; returns the offset after them (before `end` only when the answer ended there). */
  #readBody(buffer: Buffer, start: number, end: number, hold: () => void, release: () => void): number {
    const body = this.#body as StorageBody;
    let more = true;
    const emit: Emit = (b, s, e) => {
      if (more) more = body.deliver(b, s, e, hold, release);
    };
    const framing = this.#framing;
    let used = end;
    if (framing.kind === 'length') {
      const n = Math.min(framing.left, end - start);
      emit(buffer, start, start + n);
      framing.left -= n;
      used = start + n;
      if (framing.left === 0) this.#phase = 'complete';
    } else if (framing.kind === 'chunked') {
      const decoder = this.#chunked as ChunkedDecoder;
      used = decoder.decode(buffer, start, end, emit);
      if (decoder.done) this.#phase = 'complete';
    } else {
      emit(buffer, start, end);
    }
    if (!more && this.#phase === 'body') {
      // The reader has all it wanted of a longer body: the rest is not read, so the connection goes.
      this.#phase = 'complete';
      this.#keepAlive = false;
    }
    return used;
  }

  /** The answer is complete: the connection goes back (if it can be trusted), then the body ends. */
  #settle(leftover: boolean): void {
    this.#phase = 'done';
    this.#connection.done(this, this.#keepAlive && !leftover);
    this.#body?.finish();
  }

  /** The body got its reader: deliver what was held back and start reading again. */
  attach(): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending) {
      try {
        const used = this.#readBody(
          pending.buffer,
          pending.start,
          pending.end,
          pending.hold,
          pending.release,
        );
        if (this.#phase === 'complete') this.#settle(used < pending.end);
      } catch (error) {
        this.#broken(malformed(error));
      }
      pending.release(); // the hold onData kept while the body had no reader
    }
    this.#resumeIfWanted();
  }

  /** A copying reader cannot take more now. */
  pauseForReader(): void {
    this.#readerPaused = true;
  }

  wantMore(): void {
    this.#readerPaused = false;
    this.#resumeIfWanted();
  }

  /** A buffer of this exchange came back. */
  bufferReturned(): void {
    if (this.#connection.freeBuffers >= 2) this.#resumeIfWanted();
  }

  #resumeIfWanted(): void {
    if (this.#phase === 'body' && this.#wantsReading()) this.#connection.resumeReading();
  }

  /** The body's reader went away before the end: the rest will not be read. */
  abandon(): void {
    if (this.#phase === 'done') return;
    this.#phase = 'done';
    this.#pending?.release();
    this.#pending = undefined;
    this.#connection.done(this, false);
  }

  /** The connection failed, timed out or ended (`eof`: closed cleanly by the server). */
  fail(error: StorageRequestError, eof = false): void {
    if (this.#phase === 'done') return;
    if (eof && this.#phase === 'body' && this.#framing.kind === 'close') {
      this.#settle(true); // a body framed by the end of the connection is complete now
      return;
    }
    this.#broken(error);
  }

  #broken(error: StorageRequestError): void {
    const phase = this.#phase;
    this.#phase = 'done';
    this.#pending?.release();
    this.#pending = undefined;
    this.#connection.done(this, false);
    if (phase === 'head') this.#onFail(error, !this.#sawBytes);
    else this.#body?.fail(error);
  }
}

function malformed(error: unknown): StorageRequestError {
  return new StorageRequestError(`storage sent a malformed answer: ${(error as Error).message}`, 'EPROTO');
}

const EOF_MESSAGE = 'storage closed the connection';
/** Errors of a connection the server closed while it sat idle in the pool. */
const STALE_CODES = new Set(['EOF', 'ECONNRESET', 'EPIPE']);
const CLOSED_READ_BUFFER = Buffer.alloc(1);

/** One socket to storage, its read buffers, and the exchange it serves. */
class Connection {
  readonly socket: net.Socket;
  readonly #pool: StoragePool;
  readonly #free: Buffer[] = [];
  /** The buffer the socket reads into next (not in flight: given back when the socket closes). */
  #reading: Buffer | undefined;
  #exchange: Exchange | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  /** The exchange's idle timeout, armed only while the connection is reading for it (see `#onRead`). */
  #idleTimeoutMs = 0;
  #idleTimerArmed = false;
  #idle = false;
  #closed = false;
  /** Whether an exchange has completed on it (so a failure may be a stale keep-alive connection). */
  reused = false;

  constructor(pool: StoragePool, options: StoragePoolOptions) {
    this.#pool = pool;
    const onread = {
      // Called for the first read and after every callback, paused or not: it must always give a buffer
      // that is not in flight. A closed socket reads no more, so it gets a dummy.
      buffer: () => {
        if (this.#closed) return CLOSED_READ_BUFFER;
        this.#reading = this.#free.pop() ?? takeBuffer();
        return this.#reading;
      },
      callback: (n: number, buffer: Buffer) => this.#onRead(n, buffer),
    };
    const common = {
      host: options.hostname,
      port: options.port,
      lookup: options.lookup,
      noDelay: true,
      onread,
    };
    this.socket =
      options.protocol === 'https:'
        ? tls.connect({ ...options.tls, ...common, servername: options.servername ?? options.hostname })
        : net.connect(common);
    this.#connectTimer = setTimeout(() => {
      this.#fail(new StorageRequestError('could not connect to storage in time', 'ETIMEDOUT'));
    }, options.connectTimeoutMs);
    this.socket.once(options.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      clearTimeout(this.#connectTimer);
    });
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#fail(new StorageRequestError(`storage connection failed: ${error.message}`, error.code));
    });
    // Only a clean end (FIN) completes a body framed by the connection's end; a close without one breaks it.
    this.socket.on('end', () => this.#fail(new StorageRequestError(EOF_MESSAGE, 'EOF'), true));
    this.socket.on('close', () => this.#fail(new StorageRequestError(EOF_MESSAGE, 'EOF')));
    this.socket.on('timeout', () => {
      if (this.#idle) this.destroy();
      else this.#fail(new StorageRequestError('the storage connection went silent', 'ETIMEDOUT'));
    });
  }

  get freeBuffers(): number {
    return this.#free.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  start(exchange: Exchange): void {
    this.#idle = false;
    this.#exchange = exchange;
    // A connection whose buffers are still out with an earlier (slow) client gets fresh ones, so the new
    // answer does not wait on somebody else's reader.
    while (this.#free.length < BUFFERS_PER_CONNECTION - 1) this.#free.push(takeBuffer());
    const { method, path, headers, idleTimeoutMs } = exchange.request;
    let head = `${method} ${path} HTTP/1.1\r\n`;
    for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#idleTimerArmed = false;
    this.socket.write(`${head}\r\n`, 'latin1');
    this.resumeReading();
  }

  #onRead(n: number, buffer: Buffer): boolean {
    this.#reading = undefined; // `buffer` now belongs to the exchange until its writes are done
    const exchange = this.#exchange;
    if (!exchange) {
      // Nothing was asked: a server that talks out of turn is not one to reuse.
      this.destroy();
      giveBackBuffer(buffer);
      return false;
    }
    const more = exchange.onData(buffer, n);
    if (this.#closed) return false;
    // The exchange ended within this read: the connection is parked or serves the next one, reading.
    if (this.#exchange !== exchange) return true;
    if (!more && exchange.waitingForReader) {
      // Media stopped reading because its client is slow (all buffers out, or a copying reader full): the
      // silence that follows is ours, not storage's, so it must not count as storage going silent. A client
      // that pauses a long time (a paused <video> with a full buffer) keeps its stream. Re-armed on resume.
      this.socket.setTimeout(0);
      this.#idleTimerArmed = false;
    }
    return more;
  }

  /** Every write of `buffer` has called back. */
  releaseBuffer(buffer: Buffer, from: Exchange): void {
    if (this.#closed || this.#exchange !== from) {
      giveBackBuffer(buffer);
      return;
    }
    this.#free.push(buffer);
    from.bufferReturned();
  }

  /** Reads for the exchange, timing storage's silence from now on. */
  resumeReading(): void {
    if (this.#closed) return;
    if (!this.#idleTimerArmed) {
      this.socket.setTimeout(this.#idleTimeoutMs);
      this.#idleTimerArmed = true;
    }
    this.socket.resume();
  }

  /** The exchange is over; the connection is reusable only if `keepAlive`. */
  done(exchange: Exchange, keepAlive: boolean): void {
    if (this.#exchange !== exchange) return;
    this.#exchange = undefined;
    if (!keepAlive || this.#closed) {
      this.destroy();
      return;
    }
    this.reused = true;
    this.#pool.release(this);
  }

  /** Parked in the pool: reading (to notice a close), closed after the pool's idle timeout. */
  park(timeoutMs: number): void {
    this.#idle = true;
    // An idle connection needs only the buffer its socket reads into; the rest serve other streams.
    for (const buffer of this.#free) giveBackBuffer(buffer);
    this.#free.length = 0;
    this.socket.setTimeout(timeoutMs);
    this.#idleTimerArmed = false;
    this.socket.resume();
  }

  #fail(error: StorageRequestError, eof = false): void {
    clearTimeout(this.#connectTimer);
    const exchange = this.#exchange;
    this.#exchange = undefined;
    this.destroy();
    exchange?.fail(error, eof);
  }

  /** Ends the exchange in progress with `error` (a timeout, an abort) and closes the connection. */
  abort(exchange: Exchange, error: StorageRequestError): void {
    if (this.#exchange === exchange) this.#fail(error);
  }

  destroy(): void {
    if (this.#closed) return;
    if (this.#exchange) {
      // Closed from outside (the pool shuts down) mid-answer: that answer fails, it does not end early.
      this.#fail(new StorageRequestError('the storage connection was closed', 'ECLOSED'));
      return;
    }
    this.#closed = true;
    clearTimeout(this.#connectTimer);
    this.socket.destroy(); // no read into any buffer after this (libuv delivers nothing after a close)
    for (const buffer of this.#free) giveBackBuffer(buffer);
    this.#free.length = 0;
    if (this.#reading) giveBackBuffer(this.#reading);
    this.#reading = undefined;
    this.#pool.forget(this);
  }
}

interface Waiter {
  resolve: (connection: Connection) => void;
  reject: (error: Error) => void;
}

/** Keep-alive connections to one storage endpoint, at most `maxSockets` at once; the rest wait in line. */
export class StoragePool {
  readonly #options: StoragePoolOptions;
  readonly #idle: Connection[] = [];
  readonly #busy = new Set<Connection>();
  readonly #queue: Waiter[] = [];
  #destroyed = false;

  constructor(options: StoragePoolOptions) {
    this.#options = options;
  }

  /** For tests and health: connections serving an answer, idle in the pool, and requests waiting. */
  stats(): { busy: number; idle: number; queued: number } {
    return { busy: this.#busy.size, idle: this.#idle.length, queued: this.#queue.length };
  }

  request(request: StorageRequest): Promise<StorageAnswer> {
    if (request.signal.aborted) return Promise.reject(abortError());
    for (const [name, value] of Object.entries(request.headers)) {
      if (!/^[a-z0-9-]+$/.test(name) || INVALID_FIELD_VALUE.test(value)) {
        return Promise.reject(new TypeError(`invalid storage request header ${JSON.stringify(name)}`));
      }
    }
    if (INVALID_PATH.test(request.path) || !request.path.startsWith('/')) {
      return Promise.reject(new TypeError('invalid storage request path'));
    }
    return new Promise<StorageAnswer>((resolve, reject) => {
      let settled = false;
      let current: { connection: Connection; exchange: Exchange } | undefined;
      let body: StorageBody | undefined;
      let waiter: Waiter | undefined;
      const stopListening = () => request.signal.removeEventListener('abort', onAbort);
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stopListening();
        this.#dropWaiter(waiter);
        reject(error);
        // Settled first, so that what the connection reports on its way down is not taken for staleness.
        if (current)
          current.connection.abort(current.exchange, new StorageRequestError(error.message, 'ECANCELED'));
      };
      const onAbort = () => {
        // While the body streams, the caller's signal keeps covering it: a client that leaves ends the read.
        if (settled) body?.destroy(abortError());
        else fail(abortError());
      };
      request.signal.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(
        () => fail(new StorageRequestError('storage did not answer in time', 'ETIMEDOUT')),
        request.headTimeoutMs,
      );

      const send = (connection: Connection, mayRetry: boolean) => {
        if (settled) {
          this.release(connection);
          return;
        }
        const stale = connection.reused;
        const exchange = new Exchange(
          connection,
          request,
          (answer) => {
            settled = true;
            clearTimeout(timer);
            body = answer.body;
            if (answer.body.empty) stopListening();
            else answer.body.once('close', stopListening);
            resolve(answer);
          },
          (error, nothingReceived) => {
            if (settled) return;
            if (mayRetry && stale && nothingReceived && STALE_CODES.has(error.code ?? '')) {
              // The server closed the idle connection as we reused it: once more, on a new one.
              waiter = { resolve: (c) => send(c, false), reject: fail };
              this.#acquire(waiter, true);
              return;
            }
            fail(error);
          },
        );
        current = { connection, exchange };
        connection.start(exchange);
      };
      waiter = { resolve: (c) => send(c, true), reject: fail };
      this.#acquire(waiter, false);
    });
  }

  /** Gives `waiter` an idle connection (unless `fresh`), a new one while under the limit, or a place in line. */
  #acquire(waiter: Waiter, fresh: boolean): void {
    if (this.#destroyed) {
      waiter.reject(new StorageRequestError('storage pool closed', 'ECLOSED'));
      return;
    }
    while (!fresh && this.#idle.length > 0) {
      const connection = this.#idle.pop() as Connection;
      if (connection.closed) continue;
      this.#busy.add(connection);
      waiter.resolve(connection);
      return;
    }
    if (this.#busy.size < this.#options.maxSockets) {
      waiter.resolve(this.#connect());
      return;
    }
    this.#queue.push(waiter);
  }

  #dropWaiter(waiter: Waiter | undefined): void {
    if (!waiter) return;
    const i = this.#queue.indexOf(waiter);
    if (i !== -1) this.#queue.splice(i, 1);
  }

  #connect(): Connection {
    const connection = new Connection(this, this.#options);
    this.#busy.add(connection);
    return connection;
  }

  /** A connection finished an answer and may serve another. */
  release(connection: Connection): void {
    const waiter = this.#queue.shift();
    if (waiter) {
      waiter.resolve(connection);
      return;
    }
    this.#busy.delete(connection);
    if (this.#destroyed || this.#idle.length >= this.#options.maxFreeSockets) {
      connection.destroy();
      return;
    }
    this.#idle.push(connection);
    connection.park(this.#options.freeSocketTimeoutMs);
  }

  /** A connection closed: a waiting request gets a new one in its place. */
  forget(connection: Connection): void {
    this.#busy.delete(connection);
    const i = this.#idle.indexOf(connection);
    if (i !== -1) this.#idle.splice(i, 1);
    if (!this.#destroyed && this.#queue.length > 0 && this.#busy.size < this.#options.maxSockets) {
      (this.#queue.shift() as Waiter).resolve(this.#connect());
    }
  }

  destroy(): void {
    this.#destroyed = true;
    for (const waiter of this.#queue.splice(0)) {
      waiter.reject(new StorageRequestError('storage pool closed', 'ECLOSED'));
    }
    for (const connection of [...this.#idle, ...this.#busy]) connection.destroy();
  }
}
