// EventBridge event patterns in the running router and its tools: a processor's
// `filter: {eventPattern: ...}` delivers exactly the matching events of a stream (the govmomi
// simulator's, and a webhook stream next to an unfiltered processor), counts the others in
// /metrics and /stats; `test-pattern` and `check-config` on good and bad patterns; er.pattern in a
// script through test-script.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  SUBJECTS, eventData, freePort, makeTmpDir, metricValue, parsePrometheus, postEvents, request, routerConfig,
  runBinary, startRouter, startSink, vcenterEvent, waitFor, writeConfig,
} from './lib.mjs';
import { newestKey, startVcenterStack } from './vcenter_lib.mjs';

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function metrics(url) {
  const r = await request(`${url}/metrics`, { method: 'GET' });
  return parsePrometheus(r.body.toString());
}

function perProcessor(parsed, name, processor, labels = {}) {
  return parsed.samples
    .filter((s) => s.name === name && s.labels.processor === processor &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

// A VEBA-style rule on the router's CloudEvents: power events of the DC0 VMs, not by the vpxd
// service account, from a vCenter at an http(s) URL.
const VM_POWER = {
  source: [{ prefix: 'http' }],
  subject: ['VmPoweredOnEvent', 'VmPoweredOffEvent', 'DrsVmPoweredOnEvent'],
  data: {
    Key: [{ numeric: ['>', 0] }],
    UserName: [{ 'anything-but': ['vpxd-extension', 'VSPHERE.LOCAL\\vpxd-extension'] }],
    Vm: { Name: [{ wildcard: 'DC0_*_VM*' }] },
  },
};

function subjectOf(golden) {
  if (golden.class === 'EventEx' || golden.class === 'ExtendedEvent') return golden.json.EventTypeId;
  return golden.class;
}

/** The same rule in plain JavaScript, for the simulator's recorded events (whose source, the
 * simulator's URL, starts with http). */
function vmPowerMatches(golden) {
  const d = golden.json;
  return VM_POWER.subject.includes(subjectOf(golden)) && d.Key > 0 &&
    !['vpxd-extension', 'VSPHERE.LOCAL\\vpxd-extension'].includes(d.UserName) &&
    /^DC0_.*_VM.*$/.test(d.Vm?.Name ?? '');
}

test('simulator stream: a Knative processor with a filter gets exactly the matching events', async () => {
  const stack = await startVcenterStack({ filter: { eventPattern: VM_POWER } });
  cleanups.push(() => stack.cleanup());
  assert.match(stack.vc.url, /^http/);
  await stack.start();
  const since = await newestKey(stack.vc);
  const { vc } = stack;
  const steps = [
    () => vc.control('/vm/poweroff?name=DC0_H0_VM0'),
    () => vc.control('/vm/poweron?name=DC0_H0_VM0'),
    () => vc.control('/vm/create?name=filter-vm'),
    () => vc.control('/vm/poweroff?name=DC0_H0_VM1'),
    () => vc.control('/vm/destroy?name=filter-vm'),
    () => vc.control('/event/post', { kind: 'GeneralUserEvent', message: 'not a power event' }),
    () => vc.control('/vm/poweron?name=DC0_H0_VM1'),
  ];
  // The simulator shows a collector only its newest events: let the router take each step's.
  for (const step of steps) {
    await step();
    const recorded = (await vc.events(1000)).filter((e) => e.key > since).length;
    await waitFor(async () => {
      const m = await metrics(stack.metricsUrl);
      const done = perProcessor(m, 'event_router_deliveries_total', 'sink', { result: 'success' }) +
        perProcessor(m, 'event_router_filtered_total', 'sink');
      return done >= recorded;
    }, { timeout: 15_000, what: 'every recorded event delivered or filtered' });
  }
  const recorded = (await vc.events(1000)).filter((e) => e.key > since);
  const wanted = recorded.filter(vmPowerMatches).map((e) => e.key).sort((a, b) => a - b);
  const unwanted = recorded.filter((e) => !vmPowerMatches(e));
  assert.ok(wanted.length >= 4, `the steps make power events (${wanted.length})`);
  assert.ok(unwanted.length >= 4, `and others (${unwanted.length}: ${unwanted.map((e) => e.class).join(' ')})`);
  const delivered = stack.sink.events.map((e) => eventData(e).Key).filter((k) => k > since).sort((a, b) => a - b);
  assert.deepEqual(delivered, wanted, 'delivered = exactly the events the rule matches, each once');
  const m = await metrics(stack.metricsUrl);
  assert.equal(perProcessor(m, 'event_router_filtered_total', 'sink'), unwanted.length, 'the others are counted');
  assert.equal(m.types.event_router_filtered_total, 'counter');
  // Filtered events are acknowledged: nothing waits, nothing is dead-lettered.
  assert.equal(metricValue(m, 'event_router_queue_depth') ?? 0, 0);
  assert.deepEqual(fs.readdirSync(path.join(stack.dir, 'deadletter')), []);
});

describe('webhook stream with a filtered and an unfiltered processor', () => {
  test('each processor gets its events; /stats and /metrics count the filtered ones', async () => {
    const all = await startSink();
    const power = await startSink();
    cleanups.push(() => all.close(), () => power.close());
    const dir = makeTmpDir();
    const [webhookPort, metricsPort] = [await freePort(), await freePort()];
    const config = routerConfig({ webhookPort, metricsPort, sinkUrl: all.url, deadLetterDir: path.join(dir, 'dl') });
    delete config.eventProcessor;
    config.eventProcessors = [
      { type: 'knative', name: 'all', knative: { destination: { uri: all.url } } },
      {
        type: 'knative',
        name: 'power',
        // Given as the JSON an EventBridge rule shows, as a string.
        filter: { eventPattern: JSON.stringify({ subject: ['VmPoweredOnEvent', 'VmPoweredOffEvent'], data: { Host: { Name: [{ prefix: 'esx-1.' }] } } }) },
        knative: { encoding: 'structured', destination: { uri: power.url } },
      },
    ];
    const socket = path.join(dir, 'console.sock');
    config.console = { socket };
    const file = writeConfig(config, dir);
    const router = startRouter(file, [], { metricsPort });
    cleanups.push(() => router.stop('SIGTERM', 10_000));
    await router.waitReady(10_000);

    const events = Array.from({ length: 60 }, (_, i) => vcenterEvent(i, { subject: SUBJECTS[i % SUBJECTS.length] }));
    const responses = await postEvents(`http://127.0.0.1:${webhookPort}/webhook`, events);
    assert.ok(responses.every((r) => r.status === 202 || r.status === 200), 'all accepted');
    const expected = events.filter((e) => ['VmPoweredOnEvent', 'VmPoweredOffEvent'].includes(e.subject) &&
      e.data.Host.Name.startsWith('esx-1.'));
    assert.ok(expected.length > 0 && expected.length < events.length);
    await all.waitUntil((s) => s.byId.size >= events.length, 15_000, 'every event at the unfiltered sink');
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    await waitFor(async () => perProcessor(await metrics(metricsUrl), 'event_router_filtered_total', 'power') >=
      events.length - expected.length, { what: 'the filtered count' });
    await waitFor(() => power.byId.size >= expected.length, { what: 'the matching events at the filtered sink' });
    assert.deepEqual([...power.byId.keys()].sort(), expected.map((e) => e.id).sort());
    assert.equal(power.events.length, expected.length, 'each once');
    const m = await metrics(metricsUrl);
    assert.equal(perProcessor(m, 'event_router_filtered_total', 'power'), events.length - expected.length);
    assert.equal(perProcessor(m, 'event_router_filtered_total', 'all'), 0);
    const stats = JSON.parse((await request(`${metricsUrl}/stats`, { method: 'GET' })).body.toString());
    const entry = Object.entries(stats['vmware.event.router.stats']).find(([k]) => k.includes('power'));
    assert.ok(entry, 'the filtered processor in /stats');
    assert.equal(entry[1].filtered, events.length - expected.length);
    // The console shows where an event was filtered out, and why.
    const missed = events.find((e) => e.subject === 'VmReconfiguredEvent');
    const shown = await runBinary(['console', '--socket', socket], { input: `show ${missed.id}\n` });
    assert.match(shown.stdout, /filtered\s+power: subject: "VmReconfiguredEvent" does not match/);
    assert.match(shown.stdout, /delivered\s+all/);
  });
});

test('a filter changed on reload is reported: processors are not reloaded', async () => {
  const sink = await startSink();
  cleanups.push(() => sink.close());
  const dir = makeTmpDir();
  const [webhookPort, metricsPort] = [await freePort(), await freePort()];
  const config = routerConfig({ webhookPort, metricsPort, sinkUrl: sink.url, deadLetterDir: path.join(dir, 'dl'),
    filter: { eventPattern: { subject: ['VmPoweredOnEvent'] } } });
  const file = writeConfig(config, dir);
  const router = startRouter(file, [], { metricsPort });
  cleanups.push(() => router.stop('SIGTERM', 10_000));
  await router.waitReady(10_000);
  config.eventProcessor.filter = { eventPattern: { subject: ['VmPoweredOffEvent'] } };
  writeConfig(config, dir);
  process.kill(router.pid, 'SIGHUP');
  await waitFor(() => router.stderr().includes("reload: processor 'sink': its filter changed"),
    { what: 'the warning about the changed filter' });
  // The running filter is still the one the router started with.
  await postEvents(`http://127.0.0.1:${webhookPort}/webhook`, [
    vcenterEvent(0, { subject: 'VmPoweredOnEvent', id: 'kept' }), vcenterEvent(1, { subject: 'VmPoweredOffEvent', id: 'filtered' })]);
  await waitFor(() => sink.byId.has('kept'), { what: 'the matching event' });
  await waitFor(async () => perProcessor(await metrics(`http://127.0.0.1:${metricsPort}`), 'event_router_filtered_total', 'sink') === 1,
    { what: 'the other one filtered' });
  assert.equal(sink.byId.has('filtered'), false);
});

describe('test-pattern', () => {
  const dir = makeTmpDir();
  const write = (name, value) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  };

  test('match / no match per event, with the first field that failed; exit 1 when one missed', async () => {
    const pattern = write('rule.json', VM_POWER);
    const on = vcenterEvent(0, { subject: 'VmPoweredOnEvent', id: 'on-1' });
    on.data.Vm.Name = 'DC0_H0_VM0';
    const login = vcenterEvent(1, { subject: 'UserLoginSessionEvent', id: 'login-1' });
    const events = write('events.json', [on, login]);
    const r = await runBinary(['test-pattern', pattern, events]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, `${events}[0] (id on-1): match\n` +
      `${events}[1] (id login-1): no match: subject: "UserLoginSessionEvent" does not match\n`);
    const off = vcenterEvent(2, { subject: 'VmPoweredOffEvent', id: 'off-1' });
    const r2 = await runBinary(['test-pattern', pattern, write('off.json', off)]);
    assert.equal(r2.stdout, `${path.join(dir, 'off.json')} (id off-1): no match: data.Vm.Name: "vm-app-02" does not match\n`);
    const one = await runBinary(['test-pattern', pattern, write('on.json', on)]);
    assert.equal(one.code, 0);
    assert.equal(one.stdout, `${path.join(dir, 'on.json')} (id on-1): match\n`);
  });

  test('a bad pattern: file:line:col, the JSON path and EventBridge\'s reason; exit 2', async () => {
    const bad = write('bad.json', '{\n  "detail": {\n    "state": [{"anything-but": {"prefix": ""}}]\n  }\n}\n');
    const r = await runBinary(['test-pattern', bad, write('e.json', {})]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `${bad}:3:43: detail.state[0].anything-but.prefix: Null prefix/suffix not allowed\n`);
    const long = write('long.json', { a: ['x'.repeat(3000)] });
    assert.equal((await runBinary(['test-pattern', long, write('e2.json', {})])).code, 1);
    const refused = await runBinary(['test-pattern', '--eventbridge', long, write('e3.json', {})]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /at most 2048/);
  });

  test('shellstyle is read as wildcard, with a warning', async () => {
    const p = write('shell.json', { source: [{ shellstyle: 'https://*' }] });
    const r = await runBinary(['test-pattern', p, write('s.json', { source: 'https://vc/sdk' })]);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /warning: source\[0\]\.shellstyle: "shellstyle" is quamina's name for "wildcard"/);
  });
});

describe('check-config', () => {
  test('a bad pattern in YAML or in a JSON string is an error at its file:line:col', async () => {
    const dir = makeTmpDir();
    const config = routerConfig({ webhookPort: 1, metricsPort: 2, sinkUrl: 'http://127.0.0.1:9/', deadLetterDir: path.join(dir, 'dl') });
    config.eventProcessor.filter = { eventPattern: { subject: ['VmPoweredOnEvent'], data: { Key: [{ numeric: ['>', 5, '<', 1] }] } } };
    const file = writeConfig(config, dir);
    const r = await runBinary(['check-config', file]);
    assert.equal(r.code, 1);
    // The error is at the range's bottom, the 5 under "numeric:".
    const text = fs.readFileSync(file, 'utf8').split('\n');
    const numeric = text.findIndex((l) => l.includes('numeric'));
    const line = text.findIndex((l, i) => i > numeric && l.trim() === '- 5') + 1;
    assert.match(r.stdout + r.stderr,
      new RegExp(`${file}:${line}:\\d+: eventProcessor\\.filter\\.eventPattern: data\\.Key\\[0\\]\\.numeric: Bottom must be less than top`));

    config.eventProcessor.filter = { eventPattern: '{"source": [{"wildcard": "a**"}]}' };
    writeConfig(config, dir);
    const s = await runBinary(['check-config', file]);
    assert.equal(s.code, 1);
    assert.match(s.stdout + s.stderr, /eventProcessor\.filter\.eventPattern: source\[0\]\.wildcard: Consecutive wildcard characters at pos 2 \(line 1, column 26 of the pattern\)/);

    config.eventProcessor.filter = { eventPattern: { subject: ['x'] } };
    writeConfig(config, dir);
    const ok = await runBinary(['check-config', file]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  });
});

test('er.pattern in a script: compiled at load, :match and :explain on the event', async () => {
  const dir = makeTmpDir();
  const script = path.join(dir, '10-power.lua');
  fs.writeFileSync(script, [
    'local power = er.pattern(\'{"subject": ["VmPoweredOnEvent"], "data": {"Host": {"Name": [{"prefix": "esx-1."}]}}}\')',
    'function process(event)',
    '  local ok, why = power:explain(event)',
    '  if not ok then er.log.info("dropped: %s", why) return false end',
    '  event.extensions.power = "yes"',
    'end',
  ].join('\n'));
  const on = vcenterEvent(0, { subject: 'VmPoweredOnEvent', id: 'a' });
  on.data.Host.Name = 'esx-1.vcenter.local';
  const off = vcenterEvent(1, { subject: 'VmPoweredOffEvent', id: 'b' });
  const events = path.join(dir, 'events.json');
  fs.writeFileSync(events, JSON.stringify([on, off]));
  const r = await runBinary(['test-script', script, events]);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines[0].verdict, 'keep');
  assert.equal(lines[0].event.power, 'yes');
  assert.equal(lines[1].verdict, 'drop');
  assert.match(lines[1].logs[0], /dropped: subject: "VmPoweredOffEvent" does not match/);

  fs.writeFileSync(script, 'local p = er.pattern(\'{"a": [{"numeric": [">", "x"]}]}\')\nfunction process(e) end\n');
  const bad = await runBinary(['test-script', script, events]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /10-power\.lua:1: er\.pattern: a\[0\]\.numeric: Value of > must be numeric/);
});


