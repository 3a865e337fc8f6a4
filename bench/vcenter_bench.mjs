// vCenter source benchmark: govmomi's simulator (tests/peers/vcsim) -> event-router (vcenter source
// -> knative processor) -> a fast in-process sink (plain node:http, no SDK).
//
//   node bench/vcenter_bench.mjs [--count 10000] [--rate 100] [--seconds 20] [--ceiling-rates 500,1000] [--json]
//
// Phases: a burst of --count events posted in-process (as fast as the simulator can), the same
// over /sdk (PostEvent, ~3k/s), then a steady --rate events/s for --seconds. For each: events that
// reached the sink (distinct keys), events/s, latency from the event's CreatedTime (the CloudEvent
// `time`) to receipt, and the router's CPU time (utime+stime from /proc/PID/stat) per event. Then
// short steady phases at --ceiling-rates to show where following the simulator starts to lose.
//
// Every workload runs twice on the same simulator and sink: once through event-router, once through
// the reference follower (tests/peers/vcfollow: a Go program on govmomi following latestPage with
// page size 1 through property.Wait and POSTing each event as a binary CloudEvent from 64 workers),
// and the two are printed side by side: delivered/posted, events/s, CPU per event, latency.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildVcsim, startVcsim } from '../tests/peers/vcsim.mjs';
import { freePort, makeTmpDir, sleep, startRouter, vcenterRouterConfig, writeConfig } from '../tests/integration/lib.mjs';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: opt } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '20' },
    // Extra steady phases (5 s each) to find the rate this simulator + router follow without loss.
    'ceiling-rates': { type: 'string', default: '500,1000' },
    json: { type: 'boolean', default: false },
  },
});
const COUNT = Number(opt.count);
const RATE = Number(opt.rate);
const SECONDS = Number(opt.seconds);
const TICKS = 100; // USER_HZ on Linux (sysconf(_SC_CLK_TCK)); /proc/PID/stat counts in these

// ---- the sink ----
const arrivals = []; // {key, receivedMs, createdMs}
function createdMs(text) {
  // RFC 3339 with up to nanoseconds: Date.parse keeps milliseconds only.
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(text ?? '');
  if (!m) return NaN;
  return Date.parse(m[1] + m[3]) + (m[2] ? Number(`0${m[2]}`) * 1000 : 0);
}
const nowMs = () => performance.timeOrigin + performance.now();
const sink = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const receivedMs = nowMs();
    let key = null;
    try {
      key = JSON.parse(Buffer.concat(chunks).toString('utf8')).Key;
    } catch {
      /* not a vCenter event: counted without a key */
    }
    arrivals.push({ key, receivedMs, createdMs: createdMs(req.headers['ce-time']) });
    res.writeHead(202);
    res.end();
  });
});
sink.keepAliveTimeout = 30_000;

function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // after "pid (comm) "
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Waits until no event arrived for quietMs (bounded by maxMs). */
async function settle(quietMs = 2000, maxMs = 60_000) {
  const deadline = Date.now() + maxMs;
  let seen = arrivals.length;
  let since = Date.now();
  while (Date.now() < deadline) {
    await sleep(100);
    if (arrivals.length !== seen) {
      seen = arrivals.length;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
  }
}

function summarize(name, posted, from, startMs, cpuBefore, cpuAfter, postSeconds) {
  const got = arrivals.slice(from);
  const keys = new Set(got.map((a) => a.key));
  const lat = got.map((a) => a.receivedMs - a.createdMs).filter(Number.isFinite).sort((a, b) => a - b);
  const lastMs = got.length ? got[got.length - 1].receivedMs : startMs;
  const seconds = (lastMs - startMs) / 1000;
  const cpuMs = ((cpuAfter - cpuBefore) * 1000) / TICKS;
  return {
    phase: name,
    posted,
    postedPerSecond: posted / postSeconds,
    delivered: keys.size,
    duplicates: got.length - keys.size,
    deliveredPerSecond: seconds > 0 ? keys.size / seconds : NaN,
    latencyP50ms: percentile(lat, 50),
    latencyP99ms: percentile(lat, 99),
    latencyMaxms: lat.length ? lat[lat.length - 1] : NaN,
    routerCpuMs: cpuMs,
    cpuUsPerEvent: keys.size ? (cpuMs * 1000) / keys.size : NaN,
  };
}

async function burst(vc, routerPid, name, query) {
  await settle(500, 5000);
  const from = arrivals.length;
  const cpuBefore = cpuTicks(routerPid);
  const startMs = nowMs();
  const r = await vc.control(`/events/post-many?count=${COUNT}${query}`);
  await settle();
  return summarize(name, r.posted, from, startMs, cpuBefore, cpuTicks(routerPid), r.seconds);
}

async function steady(vc, routerPid, RATE, SECONDS) {
  await settle(500, 5000);
  const from = arrivals.length;
  const cpuBefore = cpuTicks(routerPid);
  const startMs = nowMs();
  const total = RATE * SECONDS;
  let posted = 0;
  const inFlight = new Set();
  for (let i = 0; i < total; i++) {
    const due = startMs + (i * 1000) / RATE;
    const wait = due - nowMs();
    if (wait > 0) await sleep(wait);
    const p = vc.control('/events/post-many?count=1&workers=1').then(() => posted++);
    inFlight.add(p);
    p.finally(() => inFlight.delete(p));
  }
  await Promise.all(inFlight);
  const postSeconds = (nowMs() - startMs) / 1000;
  await settle();
  return summarize(`steady ${RATE}/s x ${SECONDS}s`, posted, from, startMs, cpuBefore, cpuTicks(routerPid), postSeconds);
}

function fmt(n, digits = 1) {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

/** Starts the reference follower; resolves once it records (its ready line). */
async function startReference(vc, sinkUrl) {
  const bin = path.join(repoRoot, 'build-vcsim', 'vcfollow');
  const child = spawn(bin, ['-url', vc.url, '-username', vc.username, '-password', vc.password, '-sink', sinkUrl], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    if (stderr.length < 8192) stderr += d;
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vcfollow not ready: ${stderr}`)), 15_000);
    child.stdout.on('data', (d) => {
      if (String(d).includes('"ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`vcfollow exited ${code}: ${stderr}`)));
  });
  return {
    pid: child.pid,
    stderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    },
  };
}

async function runWorkloads(vc, pid) {
  // Warm-up: one event end to end (connections open, first page parsed).
  await vc.control('/event/post', { kind: 'GeneralUserEvent', message: 'warm-up' });
  await settle(500, 10_000);
  const results = [];
  results.push(await burst(vc, pid, `burst ${COUNT} in-process`, '&workers=4'));
  results.push(await burst(vc, pid, `burst ${COUNT} via /sdk`, '&workers=4&via=sdk'));
  results.push(await steady(vc, pid, RATE, SECONDS));
  for (const rate of opt['ceiling-rates'].split(',').map(Number).filter((n) => n > 0))
    results.push(await steady(vc, pid, rate, 5));
  return results;
}

async function main() {
  buildVcsim();
  const vc = await startVcsim({ lifetimeSeconds: 1800 });
  const sinkPort = await new Promise((resolve) => sink.listen(0, '127.0.0.1', () => resolve(sink.address().port)));
  const sinkUrl = `http://127.0.0.1:${sinkPort}/`;
  const dir = makeTmpDir('event-router-bench-vcenter-');
  const metricsPort = await freePort();
  const configPath = writeConfig(
    vcenterRouterConfig({
      address: vc.url,
      username: vc.username,
      password: vc.password,
      checkpointDir: path.join(dir, 'checkpoints'),
      metricsPort,
      sinkUrl,
      deadLetterDir: path.join(dir, 'deadletter'),
      delivery: { maxInFlight: 64, timeout: '30s' },
    }),
    dir,
  );
  let routerResults = [];
  let referenceResults = [];
  let routerStderr = '';
  try {
    const router = startRouter(configPath, ['-log-level', 'warn'], { metricsPort });
    try {
      await router.waitReady(15_000);
      routerResults = await runWorkloads(vc, router.pid);
    } finally {
      await router.stop('SIGTERM', 10_000);
      routerStderr = router.stderr();
    }
    await settle(500, 5000);
    const reference = await startReference(vc, sinkUrl);
    try {
      referenceResults = await runWorkloads(vc, reference.pid);
    } finally {
      await reference.stop();
    }
  } finally {
    await vc.stop();
    sink.close();
    sink.closeAllConnections?.();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  if (opt.json) {
    console.log(JSON.stringify({ host: os.cpus()[0]?.model, cpus: os.cpus().length, router: routerResults, reference: referenceResults }, null, 2));
    return;
  }
  const head = ['phase', 'follower', 'posted', 'posted/s', 'delivered', 'dup', 'delivered/s', 'p50 ms', 'p99 ms', 'max ms', 'CPU ms', 'CPU us/event'];
  const rows = [];
  routerResults.forEach((r, i) => {
    for (const [who, x] of [['event-router', r], ['reference (Go)', referenceResults[i]]]) {
      if (!x) continue;
      rows.push([x.phase, who, String(x.posted), fmt(x.postedPerSecond, 0), `${x.delivered}/${x.posted}`, String(x.duplicates),
        fmt(x.deliveredPerSecond, 0), fmt(x.latencyP50ms), fmt(x.latencyP99ms), fmt(x.latencyMaxms), fmt(x.routerCpuMs, 0), fmt(x.cpuUsPerEvent, 0)]);
    }
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`vcenter source: simulator -> follower -> fast sink (${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? '?'})`);
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  console.log('latency: event CreatedTime (simulator clock = this host) to receipt at the sink; the simulator');
  console.log('answers WaitForUpdatesEx on a 250 ms ticker, so about 250 ms is the floor for any follower.');
  console.log('CPU: utime+stime of the follower process (event-router, or the Go reference) per delivered event.');
  const warnings = routerStderr.trim().split('\n').filter(Boolean);
  if (warnings.length) {
    console.log(`router warnings (${warnings.length}):`);
    for (const w of warnings.slice(0, 8)) console.log(`  ${w.length > 300 ? `${w.slice(0, 297)}...` : w}`);
  }
}

main().catch((err) => {
  console.error(`vcenter bench: ${err.stack ?? err}`);
  process.exit(1);
});
