// Horizon source benchmark: the fake Horizon (tests/peers/horizon.mjs) -> event-router (horizon
// source -> knative processor) -> a fast in-process sink (plain node:http, no SDK).
//
//   node bench/horizon_bench.mjs [--backlog 20000] [--rate 200] [--seconds 10] [--json]
//
// Phases: a backlog of --backlog events (4 per millisecond) behind a checkpoint, read page by page
// (100 per page) on start; then a steady --rate events/s for --seconds. For each: events at the
// sink (distinct ids), events/s, latency from the event's time to receipt (bounded below by the
// 1 s poll), and the router's CPU time (utime+stime from /proc/PID/stat) per event. The fake
// scans its whole store per page, so a deep backlog measures the fake as much as the router.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { start as startHorizon } from '../tests/peers/horizon.mjs';
import { freePort, makeTmpDir, routerConfig, sleep, startRouter, writeConfig } from '../tests/integration/lib.mjs';

const { values: opt } = parseArgs({
  options: {
    backlog: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
const TICKS = 100; // USER_HZ

const arrivals = new Map(); // id -> {receivedMs, timeMs}
const sink = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const id = req.headers['ce-id'];
    if (!arrivals.has(id)) arrivals.set(id, { receivedMs: Date.now(), timeMs: Date.parse(req.headers['ce-time']) });
    res.writeHead(202);
    res.end();
  });
});
await new Promise((r) => sink.listen(0, '127.0.0.1', r));

function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}
function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}
async function waitArrived(ids, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !ids.every((id) => arrivals.has(String(id)))) await sleep(50);
  return ids.filter((id) => arrivals.has(String(id))).length;
}

const hz = await startHorizon({ users: [{ domain: 'corp', username: 'bench', password: 'bench-password' }] });
const dir = makeTmpDir('event-router-horizon-bench-');
const checkpointDir = path.join(dir, 'checkpoints');
const now = Date.now();
const [anchor] = hz.addEvents(1, { time: now - 600_000 });
const backlog = [];
for (let i = 0; i < Number(opt.backlog); i += 4) backlog.push(...hz.addEvents(4, { time: now - 590_000 + i }));
fs.mkdirSync(checkpointDir);
fs.writeFileSync(path.join(checkpointDir, 'cp-horizon-127.0.0.1.json'),
  JSON.stringify({ horizon: '127.0.0.1', lastEventTime: anchor.time, lastEventIds: [anchor.id], lastEventId: anchor.id, lastEventType: anchor.type }));

const metricsPort = await freePort();
const config = routerConfig({ metricsPort, sinkUrl: `http://127.0.0.1:${sink.address().port}/`, deadLetterDir: path.join(dir, 'dl'), queue: { capacity: 10000 } });
config.eventProvider = { type: 'horizon', name: 'hz', horizon: { address: hz.url, checkpoint: true, checkpointDir,
  auth: { type: 'active_directory', activeDirectoryAuth: { domain: 'corp', username: 'bench', password: 'bench-password' } } } };
fs.mkdirSync(path.join(dir, 'dl'));
const router = startRouter(writeConfig(config, dir), [], { metricsPort });
await router.waitReady(20_000);
const results = {};

let t0 = Date.now();
let cpu0 = cpuSeconds(router.pid);
let got = await waitArrived(backlog.map((e) => e.id), 120_000);
let seconds = (Date.now() - t0) / 1000;
results.backlog = { events: backlog.length, arrived: got, seconds, eventsPerSec: Math.round(got / seconds),
  cpuUsPerEvent: Math.round(((cpuSeconds(router.pid) - cpu0) * 1e6) / got), pages: hz.counters.pages };

const before = hz.events.length;
cpu0 = cpuSeconds(router.pid);
hz.startFeed(Number(opt.rate));
await sleep(Number(opt.seconds) * 1000);
hz.stopFeed();
const steady = hz.events.slice(before);
got = await waitArrived(steady.map((e) => e.id), 20_000);
const latencies = steady.filter((e) => arrivals.has(String(e.id))).map((e) => arrivals.get(String(e.id)).receivedMs - e.time).sort((a, b) => a - b);
results.steady = { rate: Number(opt.rate), events: steady.length, arrived: got, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99),
  cpuUsPerEvent: Math.round(((cpuSeconds(router.pid) - cpu0) * 1e6) / Math.max(1, got)) };

await router.stop('SIGTERM');
await hz.close();
sink.close();
fs.rmSync(dir, { recursive: true, force: true });
if (opt.json) console.log(JSON.stringify(results));
else {
  const b = results.backlog;
  const s = results.steady;
  console.log(`backlog: ${b.arrived}/${b.events} events in ${b.seconds.toFixed(1)} s = ${b.eventsPerSec} ev/s, ${b.cpuUsPerEvent} us CPU/event, ${b.pages} pages`);
  console.log(`steady ${s.rate}/s: ${s.arrived}/${s.events} events, latency p50 ${s.p50Ms} ms p99 ${s.p99Ms} ms, ${s.cpuUsPerEvent} us CPU/event`);
}
