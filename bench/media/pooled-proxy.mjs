// What a Node proxy can reach when it allocates nothing per chunk: the upstream socket reads into a few pooled
// 64 KiB buffers (`net.Socket` `onread`) and each buffer is reused once its write to the client has flushed.
// No auth, no SDK, no framework, a new upstream connection per request (so not for latency), plain HTTP only,
// Content-Length bodies only. `node pooled-proxy.mjs <port> <backend base URL>`. A measuring stick for media's
// data path (bench/RESULTS.md), not production code.
import * as http from 'node:http';
import * as net from 'node:net';

const [port, base] = process.argv.slice(2);
const upstream = new URL(base);
const CHUNK = 64 * 1024;
const PER_STREAM = 4;
const spare = [];

http
  .createServer((req, res) => {
    const owned = Array.from({ length: PER_STREAM }, () => spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK));
    const free = [...owned];
    let paused = false;
    let head = '';
    let bodyLeft = -1;
    const release = (buf) => {
      free.push(buf);
      if (paused && !socket.destroyed) {
        paused = false;
        socket.resume();
      }
    };
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      socket.destroy();
      // Buffers still being written are not returned: they are garbage once their writes finish.
      for (const buf of free) if (spare.length < 1024) spare.push(buf);
    };
    const socket = net.connect({
      host: upstream.hostname,
      port: Number(upstream.port || 80),
      onread: {
        // Node asks for the next read's buffer right after each callback, paused or not: one must always be left.
        buffer: () => {
          const buf = free.pop();
          if (!buf) throw new Error('buffer pool exhausted');
          return buf;
        },
        callback: (n, buf) => {
          let offset = 0;
          if (bodyLeft < 0) {
            head += buf.latin1Slice(0, n);
            const end = head.indexOf('\r\n\r\n');
            if (end === -1) {
              free.push(buf);
              return true;
            }
            const [statusLine = '', ...lines] = head.slice(0, end).split('\r\n');
            const headers = {};
            for (const line of lines) {
              const colon = line.indexOf(':');
              headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
            }
            bodyLeft = Number(headers['content-length'] ?? 0);
            res.writeHead(Number(statusLine.split(' ')[1] ?? 502), {
              'content-type': headers['content-type'] ?? 'application/octet-stream',
              'content-length': String(bodyLeft),
              ...(headers['content-range'] ? { 'content-range': headers['content-range'] } : {}),
            });
            offset = n - (head.length - end - 4);
          }
          const length = Math.min(n - offset, bodyLeft);
          bodyLeft -= length;
          if (length > 0) res.write(buf.subarray(offset, offset + length), () => release(buf));
          else free.push(buf);
          if (bodyLeft === 0) {
            res.end();
            finish();
            return false;
          }
          if (free.length <= 1) {
            paused = true;
            return false;
          }
          return true;
        },
      },
    });
    const path = `${upstream.pathname.replace(/\/$/, '')}${req.url}`;
    const range = req.headers.range ? `Range: ${req.headers.range}\r\n` : '';
    socket.on('connect', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${upstream.host}\r\n${range}\r\n`),
    );
    socket.on('error', () => res.destroy());
    socket.on('end', () => {
      if (bodyLeft !== 0) res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) finish();
    });
  })
  .listen(Number(port), '127.0.0.1');
