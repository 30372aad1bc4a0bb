/**
 * A tiny HTTP server that publishes a JWKS on loopback, for tests of remote key sets: the keys can be
 * changed at any time (rotation), the server can be made to fail (keys unreachable), and it counts fetches.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';

export interface JwksServer {
  /** `http://127.0.0.1:<port>/.well-known/jwks.json` */
  url: string;
  /** Replaces the published keys. */
  setKeys(keys: JWK[]): void;
  /** When true, every request is answered 503. */
  setFailing(failing: boolean): void;
  /** How many times the JWKS was requested. */
  readonly fetches: number;
  close(): Promise<void>;
}

export async function startJwksServer(initialKeys: JWK[] = []): Promise<JwksServer> {
  let keys = initialKeys;
  let failing = false;
  let fetches = 0;
  const server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    fetches += 1;
    if (failing) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    setKeys: (next) => {
      keys = next;
    },
    setFailing: (next) => {
      failing = next;
    },
    get fetches() {
      return fetches;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
