#!/usr/bin/env node
// A throwaway stand-in for event-router, only to check the integration harness itself:
//   EVENT_ROUTER_BIN=tests/peers/fake_router.mjs node --test tests/integration/modes.test.mjs
// It implements just enough of the spec (webhook -> knative, retries, dead letters, metrics) for
// the harness's own logic to be exercised. ctest never uses it; it proves nothing about the router.
// It reads only the configs the harness writes (one key per line, found by name).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { CloudEvent, HTTP } from 'cloudevents';

const argv = process.argv.slice(2);
if (argv[0] === '--version') {
  console.log('event-router 0.0.0');
  process.exit(0);
}
const configPath = argv[argv.findIndex((a) => a === '-config' || a === '--config') + 1];
const text = fs.readFileSync(configPath, 'utf8');
const all = (key) => [...text.matchAll(new RegExp(`^\\s*${key}:\\s*"?([^"\\n]*)"?$`, 'gm'))].map((m) => m[1]);
const one = (key, fallback) => all(key)[0] ?? fallback;
const seconds = (v) => (v.endsWith('ms') ? Number(v.slice(0, -2)) / 1000 : Number(v.replace(/s$/, '')));
const size = (v) => (v.endsWith('KiB') ? Number(v.slice(0, -3)) * 1024 : Number(v));

const [webhookAddr, metricsAddr] = all('bindAddress');
const webhookPath = one('path', '/webhook');
const user = one('username');
const password = one('password');
const maxBody = size(one('maxBodySize', String(4 << 20)));
const sinkUri = one('uri');
const structured = one('encoding', 'binary') === 'structured';
const deadFile = path.join(one('dir', './deadletter'), `${all('name')[2] ?? 'sink'}.jsonl`);
const processorName = all('name')[2] ?? 'sink';
const retries = Number(one('retries', '10'));
const backoffInitial = seconds(one('backoffInitial', '100ms'));
const backoffMax = seconds(one('backoffMax', '2s'));
const timeout = seconds(one('timeout', '2s'));
const maxInFlight = Number(one('maxInFlight', '64'));
const capacity = Number(one('capacity', '10000'));

const stats = { in: 0, out: 0, dead: 0, latencies: [], subjects: {} };
const pending = [];
const busySubjects = new Set();
let inFlight = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: maxInFlight });

function readBody(req, limit) {
  return new Promise((resolve) => {
    const chunks = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n <= limit) chunks.push(c);
    });
    req.on('end', () => resolve(n > limit ? null : Buffer.concat(chunks).toString()));
  });
}

function reply(res, status, error, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(error ? JSON.stringify({ error }) : '');
}

const webhook = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname !== webhookPath) return reply(res, 404, 'not found');
  if (req.method !== 'POST') return reply(res, 405, 'method not allowed', { allow: 'POST' });
  if (user && req.headers.authorization !== `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`) {
    return reply(res, 401, 'unauthorized');
  }
  const body = await readBody(req, maxBody);
  if (body === null) return reply(res, 413, 'body too large');
  let events;
  try {
    events = HTTP.toEvent({ headers: req.headers, body });
    events = Array.isArray(events) ? events : [events];
    for (const e of events) e.validate();
  } catch (err) {
    return reply(res, 400, `invalid event: ${err.message} ${JSON.stringify(err.errors ?? '')}`);
  }
  if (pending.length + events.length > capacity) return reply(res, 503, 'queue full', { 'retry-after': '1' });
  for (const e of events) pending.push({ event: e, at: Date.now() });
  stats.in += events.length;
  reply(res, 202);
  pump();
});

function pump() {
  for (let i = 0; i < pending.length && inFlight < maxInFlight; i++) {
    const item = pending[i];
    const key = item.event.subject ?? item.event.type;
    if (busySubjects.has(key) && !process.env.FAKE_ROUTER_UNORDERED) continue; // to see the ordering test fail
    pending.splice(i--, 1);
    busySubjects.add(key);
    inFlight++;
    deliver(item).finally(() => {
      busySubjects.delete(key);
      inFlight--;
      pump();
    });
  }
}

function post(event) {
  const msg = structured ? HTTP.structured(new CloudEvent(event, false)) : HTTP.binary(event);
  return new Promise((resolve) => {
    const req = http.request(sinkUri, { method: 'POST', headers: msg.headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'] }));
    });
    req.setTimeout(timeout * 1000, () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, error: err.message }));
    req.end(msg.body);
  });
}

async function deliver({ event, at }) {
  const subject = event.subject ?? event.type;
  stats.subjects[subject] ??= { success: 0, failure: 0 };
  let last;
  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    last = await post(event);
    if (last.status >= 200 && last.status < 300) {
      stats.out++;
      stats.subjects[subject].success++;
      stats.latencies.push((Date.now() - at) / 1000);
      return;
    }
    const retryable = last.status === 0 || last.status === 408 || last.status === 429 || last.status >= 500;
    if (!retryable || attempt > retries) {
      stats.dead++;
      stats.subjects[subject].failure++;
      const error = last.status ? `HTTP ${last.status}` : last.error;
      fs.appendFileSync(deadFile, `${JSON.stringify({ time: new Date().toISOString(), processor: processorName, attempts: attempt, error, event: JSON.parse(new CloudEvent(event, false).toString()) })}\n`);
      return;
    }
    const backoff = Math.min(backoffInitial * 2 ** (attempt - 1), backoffMax);
    await new Promise((r) => setTimeout(r, 1000 * Math.max(backoff, Number(last.retryAfter ?? 0))));
  }
}

const metricsServer = http.createServer((req, res) => {
  if (req.url === '/healthz' || req.url === '/readyz') return reply(res, 200);
  if (req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({
      eventProvider: { hook: { type: 'webhook', events_total: stats.in, events_err: 0 } },
      eventProcessor: { [processorName]: { type: 'knative', invocations: stats.subjects } },
    }));
  }
  if (req.url === '/metrics') {
    const bounds = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];
    let t = '# TYPE event_router_events_in_total counter\n';
    t += `event_router_events_in_total ${stats.in}\nevent_router_events_out_total ${stats.out}\n`;
    t += `event_router_events_dead_lettered_total ${stats.dead}\n# TYPE event_router_delivery_seconds histogram\n`;
    for (const b of bounds) t += `event_router_delivery_seconds_bucket{le="${b}"} ${stats.latencies.filter((l) => l <= b).length}\n`;
    t += `event_router_delivery_seconds_bucket{le="+Inf"} ${stats.latencies.length}\n`;
    t += `event_router_delivery_seconds_count ${stats.latencies.length}\n`;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    return res.end(t);
  }
  reply(res, 404, 'not found');
});

const listen = (server, addr) => server.listen(Number(addr.split(':')[1]), addr.split(':')[0]);
listen(webhook, webhookAddr);
listen(metricsServer, metricsAddr);
process.stderr.write(`fake router: webhook ${webhookAddr}${webhookPath}, metrics ${metricsAddr}, sink ${sinkUri}\n`);

function shutdown() {
  webhook.close();
  metricsServer.close();
  const deadline = Date.now() + 5000;
  const wait = () => ((inFlight === 0 && pending.length === 0) || Date.now() > deadline ? process.exit(0) : setTimeout(wait, 50));
  wait();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
