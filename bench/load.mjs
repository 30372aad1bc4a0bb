// One autocannon run in its own process, so the load generator never shares an event loop with the
// server: `node bench/load.mjs '<json options>'` prints a JSON summary (bench/support.mjs `runLoad`).
import autocannon from 'autocannon';

const result = await autocannon(JSON.parse(process.argv[2] ?? '{}'));
process.stdout.write(
  `${JSON.stringify({
    requestsPerSecond: result.requests.average,
    p99: result.latency.p99,
    total: result.requests.total,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  })}\n`,
);
