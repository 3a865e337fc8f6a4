// A CloudEvents sink on 127.0.0.1 built on the official SDK: the peer the router's Knative
// processor delivers to. Every request is decoded with HTTP.toEvent and validated, so a test that
// counts received events also proves the router sent valid CloudEvents.
//
// Module:  const sink = await start({port: 0, failRate: 0.3, failStatus: 503});
//          sink.events / sink.byId / sink.counters; sink.setDown(true) closes the listening socket
//          (connections are refused) and drops open ones; sink.setDown(false) listens again.
// CLI:     node tests/peers/sink.mjs --port 8080 [--print] [--fail-rate 0.2] [--fail-status 503]
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { HTTP } from 'cloudevents';

// Body of an event as plain JSON whatever the content mode: binary mode with a content type the
// SDK does not parse (e.g. "application/json; charset=utf-8") leaves a string.
export function eventData(event) {
  const data = event.data;
  if (typeof data === 'string' && /^application\/json\b/.test(event.datacontenttype ?? '')) {
    try {
      return JSON.parse(data);
    } catch {
      return data;
    }
  }
  return data;
}

function contentMode(headers) {
  const type = headers['content-type'] ?? '';
  if (type.startsWith('application/cloudevents-batch+json')) return 'batch';
  if (type.startsWith('application/cloudevents')) return 'structured';
  return 'binary';
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function oneLineSummary(data) {
  if (data && typeof data === 'object') {
    if (typeof data.FullFormattedMessage === 'string') return data.FullFormattedMessage;
    const json = JSON.stringify(data);
    return json.length > 100 ? `${json.slice(0, 97)}...` : json;
  }
  return String(data ?? '');
}

// Attributes every event carries: the printed line shows only the others (what a script added).
const PLAIN_ATTRIBUTES = new Set(['specversion', 'id', 'source', 'type', 'subject', 'time',
  'datacontenttype', 'dataschema', 'data', 'data_base64', 'vsphereapiversion', 'eventclass']);

export function formatEvent(event) {
  const time = event.time ?? new Date().toISOString();
  const extras = Object.entries(event)
    .filter(([name, value]) => !PLAIN_ATTRIBUTES.has(name) && typeof value !== 'function' && value !== undefined)
    .map(([name, value]) => `  ${name}=${value}`).join('');
  return `${time}  ${event.type}  ${event.subject ?? '-'}  ${event.id}${extras}\n    ${oneLineSummary(eventData(event))}`;
}

/**
 * Starts a sink. Options:
 *   port (0 = pick one), host ('127.0.0.1'),
 *   failRate (0..1): fraction of requests answered with failStatus (default 503),
 *   retryAfter: Retry-After header value sent with failStatus,
 *   failFor(event) -> status|0: a per-event answer (e.g. 400 for chosen ids), checked first,
 *   delayMs: answer every request only after this long,
 *   print: write each accepted event to stdout as it arrives.
 */
export async function start(options = {}) {
  const host = options.host ?? '127.0.0.1';
  let failRate = options.failRate ?? 0;
  let failStatus = options.failStatus ?? 503;
  let retryAfter = options.retryAfter;
  let failFor = options.failFor ?? (() => 0);
  let delayMs = options.delayMs ?? 0;
  const print = options.print ?? false;

  const events = []; // accepted events, arrival order
  const arrivals = []; // {id, path, at}: which URL path each accepted event came to, and when
  const byId = new Map(); // id -> accepted event
  const attempts = new Map(); // id -> number of requests carrying it (accepted or not)
  const modes = new Map(); // content mode -> number of accepted requests
  const invalid = []; // {error, headers, body} of requests the SDK refused
  const counters = { requests: 0, accepted: 0, failed: 0, invalid: 0, duplicates: 0 };
  const waiters = new Set();
  const sockets = new Set();

  function notify() {
    for (const w of waiters) w();
  }

  async function handle(req, res) {
    counters.requests++;
    const body = await readBody(req);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    let received;
    try {
      received = HTTP.toEvent({ headers: req.headers, body });
      received = Array.isArray(received) ? received : [received];
      for (const e of received) e.validate();
    } catch (err) {
      counters.invalid++;
      invalid.push({ error: String(err?.message ?? err), headers: req.headers, body });
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `invalid CloudEvent: ${err?.message ?? err}` }));
      notify();
      return;
    }
    for (const e of received) attempts.set(e.id, (attempts.get(e.id) ?? 0) + 1);

    let status = 0;
    for (const e of received) status ||= failFor(e) || 0;
    if (!status && failRate > 0 && Math.random() < failRate) status = failStatus;
    if (status) {
      counters.failed++;
      const headers = { 'content-type': 'text/plain' };
      if (retryAfter !== undefined && status === failStatus) headers['retry-after'] = String(retryAfter);
      res.writeHead(status, headers);
      res.end(`sink refused event ${received.map((e) => e.id).join(',')} with ${status}`);
      notify();
      return;
    }

    const mode = contentMode(req.headers);
    modes.set(mode, (modes.get(mode) ?? 0) + 1);
    for (const e of received) {
      if (byId.has(e.id)) counters.duplicates++;
      else byId.set(e.id, e);
      events.push(e);
      arrivals.push({ id: e.id, path: req.url, at: Date.now() });
      counters.accepted++;
      if (print) process.stdout.write(`${formatEvent(e)}\n`);
    }
    res.writeHead(202);
    res.end();
    notify();
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  function listen(port) {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(server.address().port);
      });
    });
  }

  const port = await listen(options.port ?? 0);
  let down = false;

  const sink = {
    port,
    url: `http://${host}:${port}/`,
    events,
    arrivals,
    byId,
    attempts,
    modes,
    invalid,
    counters,
    get down() {
      return down;
    },
    /** down=true: stop listening and drop every open connection, so the router sees refusals. */
    async setDown(value) {
      if (value === down) return;
      down = value;
      if (value) {
        const closed = new Promise((r) => server.close(() => r()));
        for (const s of sockets) s.destroy();
        await closed;
      } else {
        await listen(port);
      }
    },
    setFailRate(rate) {
      failRate = rate;
    },
    setFailStatus(status, retryAfterValue) {
      failStatus = status;
      retryAfter = retryAfterValue;
    },
    setFailFor(fn) {
      failFor = fn ?? (() => 0);
    },
    setDelay(ms) {
      delayMs = ms;
    },
    /** Resolves once predicate(sink) holds; rejects after timeoutMs. */
    waitUntil(predicate, timeoutMs = 10_000, what = 'sink condition') {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(sink)) return false;
          done();
          resolve();
          return true;
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} ` +
            `(accepted ${counters.accepted}, requests ${counters.requests})`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    waitForCount(n, timeoutMs = 10_000) {
      return sink.waitUntil((s) => s.byId.size >= n, timeoutMs, `${n} distinct events`);
    },
    async close() {
      for (const w of [...waiters]) waiters.delete(w);
      if (!down) {
        const closed = new Promise((r) => server.close(() => r()));
        for (const s of sockets) s.destroy();
        await closed;
        down = true;
      }
    },
  };
  return sink;
}

async function main() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      print: { type: 'boolean', default: false },
      'fail-rate': { type: 'string', default: '0' },
      'fail-status': { type: 'string', default: '503' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('usage: node sink.mjs --port N [--host 127.0.0.1] [--print] [--fail-rate 0..1] [--fail-status 503]');
    return;
  }
  const sink = await start({
    port: Number(values.port),
    host: values.host,
    print: values.print,
    failRate: Number(values['fail-rate']),
    failStatus: Number(values['fail-status']),
  });
  process.stderr.write(`sink: listening on ${sink.url}\n`);
  const stop = async () => {
    await sink.close();
    const c = sink.counters;
    process.stderr.write(`sink: ${c.accepted} accepted, ${c.failed} refused, ${c.invalid} invalid, ` +
      `${c.duplicates} duplicates\n`);
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(`sink: ${err.message}`);
    process.exit(1);
  });
}
