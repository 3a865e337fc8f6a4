// Hostile scripts and console input against the real router (issue 10): tricks that froze or
// crashed it are stopped at their budget while benign traffic keeps flowing, every event is
// accounted for (sent = delivered + dropped + dead-lettered), and the console answers every bad
// command with an error line. The unit-level corpus is tests/hostile (test_hostile_corpus).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  consoleRun, freePort, makeTmpDir, writeConfig, routerConfig, startRouter, startSink, postEvents,
  vcenterEvent, readDeadLetters, waitFor, request, parsePrometheus, metricValue,
} from './lib.mjs';

// One trick per subject; everything else is benign. Line numbers matter: the dead letters must
// name them.
const HOSTILE_SCRIPT = `local tricks = {
  ["hostile-xpcall"] = function() xpcall(error, function() while true do end end) end,
  ["hostile-pattern"] = function() return ("a"):rep(100):find(("a*"):rep(12) .. "b") end,
  ["hostile-lazy"] = function() return ("a"):rep(2000):find(".-.-.-.-b") end,
  ["hostile-rep"] = function() return string.rep("x", 1 << 40) end,
  ["hostile-move"] = function() table.move({}, 1, 1 << 62, 1, {}) end,
  ["hostile-coroutine"] = function(e) e.subject = "tampered" coroutine.resume(coroutine.create(function() while true do end end)) end,
  ["hostile-route"] = function(e) er.route(e, "sink\\0evil") end,
  ["hostile-counter"] = function() er.counter("bad", 0/0) end,
}
function process(event)
  local trick = tricks[event.subject]
  if trick then trick(event) end
  if event.subject == "VmPoweredOnEvent" then print("benign", event.id) end
  er.counter("benign", 1)
  event.extensions.checked = "yes"
end
`;
const TRICKS = ['xpcall', 'pattern', 'lazy', 'rep', 'move', 'coroutine', 'route', 'counter'];
const TRICK_LINE = { xpcall: 2, pattern: 3, lazy: 4, rep: 5, move: 6, coroutine: 7, route: 8, counter: 9 };

async function metrics(url) {
  const r = await request(`${url}/metrics`, { method: 'GET' });
  assert.equal(r.status, 200);
  return parsePrometheus(r.body); // throws on any line that is not valid Prometheus text
}

describe('a hostile script in the running router', () => {
  let dir, sink, router, socket, webhookUrl, metricsUrl, deadLetterDir, scriptsDir;
  const benign = [];
  const hostile = [];
  before(async () => {
    dir = makeTmpDir();
    scriptsDir = path.join(dir, 'scripts');
    fs.mkdirSync(scriptsDir);
    fs.writeFileSync(path.join(scriptsDir, '10-hostile.lua'), HOSTILE_SCRIPT);
    sink = await startSink({});
    const [webhookPort, metricsPort] = [await freePort(), await freePort()];
    deadLetterDir = path.join(dir, 'deadletter');
    socket = path.join(dir, 'console.sock');
    const config = routerConfig({ webhookPort, metricsPort, sinkUrl: sink.url, deadLetterDir });
    config.eventProcessor.knative.destination.uri = sink.url.replace('http://', 'http://admin:s3cr3t-pw@');
    config.scripts = { dir: scriptsDir };
    config.console = { socket };
    router = startRouter(writeConfig(config, dir), [], { metricsPort });
    await router.waitReady(10_000);
    webhookUrl = `http://127.0.0.1:${webhookPort}/webhook`;
    metricsUrl = `http://127.0.0.1:${metricsPort}`;
  });
  after(async () => {
    await router?.stop('SIGTERM', 10_000).catch(() => {});
    await sink?.close().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('benign events flow while every trick is stopped; the counts add up', async () => {
    const events = [];
    for (let i = 0; i < 400; i++) {
      if (i % 10 === 5) {
        const trick = TRICKS[hostile.length % TRICKS.length];
        const e = vcenterEvent(i, { id: `hostile-${trick}-${i}`, subject: `hostile-${trick}` });
        hostile.push(e);
        events.push(e);
      } else {
        const e = vcenterEvent(i, { id: `benign-${i}`, subject: i % 2 ? 'VmPoweredOnEvent' : 'VmPoweredOffEvent' });
        benign.push(e);
        events.push(e);
      }
    }
    // The probes run while the tricks are being stopped: the loop thread never stays stuck.
    const probes = (async () => {
      const statuses = [];
      for (let i = 0; i < 10; i++) statuses.push((await request(`${metricsUrl}/healthz`, { method: 'GET' })).status);
      return statuses;
    })();
    const responses = await postEvents(webhookUrl, events, { concurrency: 8 });
    assert.ok(responses.every((r) => r.status === 202), 'every event accepted');
    assert.deepEqual(await probes, Array(10).fill(200));
    await waitFor(() => benign.every((e) => sink.byId.has(e.id)), { what: 'every benign event delivered' });
    const deadFile = path.join(deadLetterDir, 'scripts.jsonl');
    await waitFor(() => readDeadLetters(deadFile).length === hostile.length, { what: 'every hostile event dead-lettered' });
    for (const e of benign) assert.equal(sink.byId.get(e.id).checked, 'yes');
    for (const e of hostile) assert.ok(!sink.byId.has(e.id), `${e.id} was not delivered`);
    for (const record of readDeadLetters(deadFile)) {
      const trick = record.event.subject.replace('hostile-', '');
      assert.match(record.error, new RegExp(`^10-hostile\\.lua:${TRICK_LINE[trick]}: `), record.error);
      assert.notEqual(record.event.subject, 'tampered', 'a failed script changes nothing');
    }
    const m = await metrics(metricsUrl);
    const sent = metricValue(m, 'event_router_events_in_total');
    const delivered = metricValue(m, 'event_router_events_out_total');
    const dropped = metricValue(m, 'event_router_events_dropped_total');
    const dead = metricValue(m, 'event_router_events_dead_lettered_total');
    assert.equal(sent, events.length);
    assert.equal(delivered, benign.length);
    assert.equal(sent, delivered + dropped + dead);
    assert.equal(sink.counters.duplicates, 0);
    // print() in a script: one clean log line (no "userdata: 0x..." tail).
    assert.match(router.stderr(), /benign\tbenign-1\n/);
    assert.doesNotMatch(router.stderr(), /userdata: 0x/);
  });

  test('a structured event whose id holds \\u0000 is refused, not cut', async () => {
    const body = '{"specversion":"1.0","id":"a\\u0000b","source":"/s","type":"t"}';
    const r = await request(webhookUrl, { headers: { 'content-type': 'application/cloudevents+json' }, body });
    assert.equal(r.status, 400);
    assert.match(r.body, /u0000/);
  });

  test('console Lua errors are error lines; print goes to the client; results print once', async () => {
    let r = await consoleRun(socket, ['= setmetatable({print}, {__tostring = function() error("x") end})']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /error: .*x/);
    r = await consoleRun(socket, ['xpcall(error, function() while true do end end)']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /error: .*instruction limit exceeded/);
    r = await consoleRun(socket, ['("a"):rep(100):find(("a*"):rep(12) .. "b")']);
    assert.match(r.stderr, /error: .*instruction limit exceeded/);
    r = await consoleRun(socket, ['print("to the client", 42)', '= coroutine.create(print)']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^to the client\t42$/m);
    assert.equal(r.stdout.match(/thread: /g).length, 1, r.stdout);
    assert.doesNotMatch(router.stderr(), /to the client/);
    const health = await request(`${metricsUrl}/healthz`, { method: 'GET' });
    assert.equal(health.status, 200, 'the engine is alive after every console error');
  });

  test('console config never shows the password of a destination URI', async () => {
    const r = await consoleRun(socket, ['config', '= config.eventProcessors[1].uri']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /s3cr3t-pw/);
    assert.match(r.stdout, /http:\/\/127\.0\.0\.1:/);
  });

  test('a tail in a pipe ends at the end of its input; a "<<<" line does not hang', async () => {
    let r = await consoleRun(socket, ['tail']);
    assert.equal(r.code, 0, r.stderr);
    r = await consoleRun(socket, ['<<<', '= 1 + 1']);
    assert.match(r.stdout, /^2$/m, 'the client went on after the "<<<" line');
  });

  test('deadletter replay of the scripts file, whole or one script\'s lines', async () => {
    fs.writeFileSync(path.join(scriptsDir, '10-hostile.lua'), 'function process(event) event.extensions.checked = "replayed" end\n');
    let r = await consoleRun(socket, ['reload', `deadletter replay script:10-hostile.lua 3`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /replayed 3 of 3/);
    r = await consoleRun(socket, ['deadletter replay script:20-other.lua', 'deadletter replay scripts all']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /replayed 0 of 0/);
    assert.match(r.stdout, new RegExp(`replayed ${hostile.length - 3} of ${hostile.length - 3}`));
    await waitFor(() => hostile.every((e) => sink.byId.get(e.id)?.checked === 'replayed'), { what: 'replayed hostile events' });
    assert.equal(readDeadLetters(path.join(deadLetterDir, 'scripts.jsonl')).length, 0);
    const m = await metrics(metricsUrl);
    assert.equal(metricValue(m, 'event_router_events_in_total'),
      metricValue(m, 'event_router_events_out_total') + metricValue(m, 'event_router_events_dropped_total') +
      metricValue(m, 'event_router_events_dead_lettered_total'));
  });
});

describe('the console under a small memory limit with deep events queued', () => {
  let dir, sink, router, socket, webhookUrl, metricsUrl;
  before(async () => {
    dir = makeTmpDir();
    const scriptsDir = path.join(dir, 'scripts');
    fs.mkdirSync(scriptsDir);
    fs.writeFileSync(path.join(scriptsDir, '10-read.lua'), 'function process(e) local d = e.data end\n');
    sink = await startSink({});
    const [webhookPort, metricsPort] = [await freePort(), await freePort()];
    socket = path.join(dir, 'console.sock');
    const config = routerConfig({ webhookPort, metricsPort, sinkUrl: sink.url, deadLetterDir: path.join(dir, 'dl') });
    config.scripts = { dir: scriptsDir, memoryLimit: '8MiB' };
    config.console = { socket };
    router = startRouter(writeConfig(config, dir), [], { metricsPort });
    await router.waitReady(10_000);
    webhookUrl = `http://127.0.0.1:${webhookPort}/webhook`;
    metricsUrl = `http://127.0.0.1:${metricsPort}`;
  });
  after(async () => {
    await router?.stop('SIGTERM', 10_000).catch(() => {});
    await sink?.close().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('console commands answer (or fail with an error line) and no event is lost', async () => {
    let deep = [1, 2, 3];
    for (let i = 0; i < 900; i++) deep = [deep];
    const events = Array.from({ length: 500 }, (_, i) => ({ ...vcenterEvent(i, { id: `deep-${i}` }), data: deep }));
    const posting = postEvents(webhookUrl, events, { concurrency: 8 });
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await consoleRun(socket, ['= #recent', 'stats']));
    assert.ok((await posting).every((r) => r.status === 202));
    for (const r of answers) {
      assert.ok(r.code === 0 || /error: .*(memory limit|not enough memory)/.test(r.stderr), r.stderr);
      assert.doesNotMatch(r.stderr, /lost the connection|closed the connection/);
    }
    await waitFor(() => events.every((e) => sink.byId.has(e.id)), { what: 'every deep event delivered', timeout: 30_000 });
    const m = parsePrometheus((await request(`${metricsUrl}/metrics`, { method: 'GET' })).body);
    assert.equal(metricValue(m, 'event_router_events_in_total'), events.length);
    assert.equal(metricValue(m, 'event_router_events_out_total'), events.length);
  });
});
