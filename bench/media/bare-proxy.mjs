// The floor for any Node proxy: a bare pass-through (no auth, no SDK, no framework) from the backend to the
// client, `http.get(...).pipe(res)` with a keep-alive agent. `node bare-proxy.mjs <port> <backend base URL>`.
import * as http from 'node:http';

const [port, base] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
http
  .createServer((req, res) => {
    const upstream = http.get(
      `${base}${req.url}`,
      { agent, headers: req.headers.range ? { range: req.headers.range } : {} },
      (up) => {
        res.writeHead(up.statusCode ?? 502, {
          'content-type': up.headers['content-type'] ?? 'application/octet-stream',
          ...(up.headers['content-length'] ? { 'content-length': up.headers['content-length'] } : {}),
          ...(up.headers['content-range'] ? { 'content-range': up.headers['content-range'] } : {}),
        });
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
  })
  .listen(Number(port), '127.0.0.1');
