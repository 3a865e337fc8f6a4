// The benchmark's sink: plain node:http that counts requests and, for events that carry the
// `benchsent` extension (send time in microseconds since the epoch), records the delay from send
// to receipt. No CloudEvents SDK on purpose: it must be cheap, because at high rates this single
// node process may itself be the ceiling (the benchmark measures it alone to show where that is).
//   node bench/fast_sink.mjs PORT      GET /stats -> {count, latency: {n, p50, p99, max} (ms)}
//                                      POST /reset clears the latencies
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);
let count = 0;
let delays = [];

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    const sorted = Float64Array.from(delays).sort();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      count,
      latency: { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: percentile(sorted, 100) },
    }));
    return;
  }
  if (req.method === 'POST' && req.url === '/reset') {
    delays = [];
    res.writeHead(204);
    res.end();
    return;
  }
  req.on('data', () => {});
  req.on('end', () => {
    count++;
    const sent = req.headers['ce-benchsent'];
    if (sent) {
      const nowUs = (performance.timeOrigin + performance.now()) * 1000;
      delays.push((nowUs - Number(sent)) / 1000);
    }
    res.writeHead(202);
    res.end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
