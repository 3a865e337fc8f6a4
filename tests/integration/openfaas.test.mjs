// The OpenFaaS processor end to end: the real binary, a webhook taking CloudEvents and the fake
// gateway in tests/peers/openfaas_gateway.mjs (the public gateway API). Covers VEBA's config
// unchanged, topic matching and its edge cases, the structured CloudEvent body (decoded with the
// CloudEvents SDK), fan-out under 30 % failing functions (each function gets every event exactly
// once, in order per subject), 501 and 4xx final with one dead-letter line per function, events
// waiting for a gateway that is down at start, a gateway restart mid-stream, the function list
// changing at run time, async 202, and the gateway password kept out of invocations, logs and
// dead letters.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { HTTP } from '../peers/node_modules/cloudevents/dist/index.js';
import { startOpenFaasGateway } from '../peers/openfaas_gateway.mjs';
import {
  consoleRun, freePort, makeTmpDir, metricsProviderYaml, postEvents, readDeadLetters, request, runBinary, sleep, startRouter, startYamlStack,
  vcenterEvent, waitFor, webhookProviderYaml, writeConfig,
} from './lib.mjs';

const USER = 'admin';
const PASSWORD = 'gw-Pa55-never-in-logs';
const PROCESSOR = 'veba-demo-openfaas';

function vebaConfig({ webhookPort, metricsPort, deadLetterDir, address, extra = '', retries = 10, topLevel = '' }) {
  // VEBA's event-router-config-vcenter-openfaas.yaml processor block, unchanged.
  return `apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: router-config-openfaas
${webhookProviderYaml(webhookPort)}
eventProcessor:
  type: openfaas
  name: ${PROCESSOR}
  openfaas:
    address: ${address}
    async: false
    auth:
      type: basic_auth
      basicAuth:
        username: ${USER}
        password: ${PASSWORD}
${extra}
${metricsProviderYaml(metricsPort)}
deadLetter:
  dir: ${deadLetterDir}
delivery:
  timeout: 5s
  connectTimeout: 1s
  retries: ${retries}
  backoffInitial: 10ms
  backoffMax: 100ms
${topLevel}`;
}

async function startStack({ address, extra, retries, waitReady = true, consoleSocket }) {
  const topLevel = consoleSocket ? `console:\n  socket: ${consoleSocket}\n` : '';
  const stack = await startYamlStack(({ webhookPort, metricsPort, deadLetterDir }) => vebaConfig({ webhookPort, metricsPort, deadLetterDir, address, extra, retries, topLevel }), { until: waitReady ? 'ready' : 'started' });
  return { ...stack, deadLetters: () => readDeadLetters(path.join(stack.deadLetterDir, `${PROCESSOR}.jsonl`)) };
}

const ok = (g) => g.state.invocations.filter((i) => i.answered && i.status >= 200 && i.status < 300);
const idsOf = (g, fn) => ok(g).filter((i) => i.function === fn).map((i) => JSON.parse(i.body).id);

function assertExactlyOnce(g, fn, events) {
  const got = idsOf(g, fn);
  assert.equal(got.length, events.length, `${fn}: ${got.length} successful invocations for ${events.length} events`);
  assert.deepEqual(new Set(got), new Set(events.map((e) => e.id)), `${fn}: the same events`);
}

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

describe('VEBA config and topic matching', () => {
  test('check-config accepts the VEBA config unchanged', async () => {
    const gw = await startOpenFaasGateway({ username: USER, password: PASSWORD });
    cleanups.push(() => gw.close());
    const dir = makeTmpDir();
    const file = writeConfig(vebaConfig({ webhookPort: 18080, metricsPort: 18082, deadLetterDir: dir, address: 'http://gateway.openfaas:8080' }), dir);
    const r = await runBinary(['check-config', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('functions get the events whose subject their topic names, as structured CloudEvents', async () => {
    const gw = await startOpenFaasGateway({
      username: USER,
      password: PASSWORD,
      functions: [
        { name: 'powercli-power', annotations: { topic: 'VmPoweredOnEvent, VmPoweredOffEvent,, ' } },
        { name: 'py-on', namespace: 'team-b', annotations: { topic: ' VmPoweredOnEvent ,VmPoweredOnEvent' } },
        { name: 'case', annotations: { topic: 'vmpoweredonevent' } },
        { name: 'no-topic' },
      ],
    });
    cleanups.push(() => gw.close());
    const consoleSocket = path.join(makeTmpDir(), 'console.sock');
    const stack = await startStack({ address: gw.url, consoleSocket });
    cleanups.push(() => stack.cleanup());
    const events = [
      ...Array.from({ length: 10 }, (_, i) => vcenterEvent(i, { subject: 'VmPoweredOnEvent' })),
      ...Array.from({ length: 5 }, (_, i) => vcenterEvent(100 + i, { subject: 'VmPoweredOffEvent' })),
      ...Array.from({ length: 5 }, (_, i) => vcenterEvent(200 + i, { subject: 'UserLoginSessionEvent' })),
    ];
    const responses = await postEvents(stack.webhookUrl, events);
    assert.ok(responses.every((r) => r.status === 202));
    await waitFor(() => gw.state.invocations.length >= 25, { timeout: 20_000, what: '25 invocations' });
    await sleep(300);
    assertExactlyOnce(gw, 'powercli-power.openfaas-fn', events.slice(0, 15));
    assertExactlyOnce(gw, 'py-on.team-b', events.slice(0, 10));
    assert.equal(idsOf(gw, 'case.openfaas-fn').length, 0, 'exact match, no case folding');
    assert.equal(gw.state.invocations.length, 25);
    for (const inv of gw.state.invocations) {
      assert.equal(inv.headers['content-type'], 'application/json');
      assert.equal(inv.headers.authorization, undefined, 'no gateway credentials on invocations');
      assert.equal(inv.headers['x-connector'], 'event-router');
      const body = JSON.parse(inv.body);
      assert.equal(inv.headers['x-topic'], body.subject);
      assert.equal(inv.headers['x-ce-id'], body.id);
      const ce = HTTP.toEvent({ headers: { 'content-type': 'application/cloudevents+json' }, body: inv.body });
      const sent = events.find((e) => e.id === ce.id);
      assert.equal(ce.specversion, '1.0');
      assert.equal(ce.subject, sent.subject);
      assert.equal(ce.source, sent.source);
      assert.deepEqual(ce.data, sent.data);
      assert.equal(body.data.Vm.Vm.Value, sent.data.Vm.Vm.Value, "VEBA functions read body['data']['Vm']['Vm']");
    }
    for (const call of gw.state.systemCalls) assert.ok(call.authorization?.startsWith('Basic '), 'basic auth on /system');
    const stats = await (await fetch(`${stack.metricsUrl}/stats`)).json();
    const entry = stats['vmware.event.router.stats'].openfaas;
    assert.equal(entry.address, gw.url);
    assert.deepEqual(entry.invocations.VmPoweredOnEvent, { SuccessCount: 20, FailureCount: 0 });
    assert.deepEqual(entry.invocations.VmPoweredOffEvent, { SuccessCount: 5, FailureCount: 0 });
    assert.equal(entry.invocations.UserLoginSessionEvent, undefined, 'unmatched events invoke nothing');
    const prom = await (await fetch(`${stack.metricsUrl}/metrics`)).text();
    assert.match(prom, new RegExp(`event_router_deliveries_total\\{processor="${PROCESSOR}/py-on.team-b",result="success"\\} 10`));
    assert.match(prom, new RegExp(`event_router_openfaas_functions\\{processor="${PROCESSOR}"\\} 4`));
    assert.match(prom, new RegExp(`event_router_openfaas_unmatched_total\\{processor="${PROCESSOR}"\\} 5`));
    assert.match(prom, new RegExp(`event_router_openfaas_function_list_up\\{processor="${PROCESSOR}"\\} 1`));
    assert.match(prom, new RegExp(`event_router_openfaas_invocation_latency_seconds_count\\{processor="${PROCESSOR}",function="powercli-power.openfaas-fn"\\} 15`));
    assert.equal(prom.match(/# TYPE event_router_openfaas_invocation_latency_seconds histogram/g).length, 1);
    const c = await consoleRun(consoleSocket, ['processors']);
    assert.equal(c.code, 0, c.stdout);
    assert.match(c.stdout, /"py-on\.team-b":\s*\[\s*"VmPoweredOnEvent"\s*\]/);
    assert.match(c.stdout, /"powercli-power\.openfaas-fn":\s*\[\s*"VmPoweredOnEvent",\s*"VmPoweredOffEvent"\s*\]/);
    assert.match(c.stdout, /"list_age_seconds"/);
    assert.ok(!c.stdout.includes(PASSWORD), 'no password in the console');
    // A clean shutdown: every handle closed, nothing leaked (the ASan build checks leaks at exit).
    const exit = await stack.router.stop('SIGTERM', 10_000);
    assert.equal(exit.code, 0, stack.router.stderr());
    assert.ok(!stack.router.stderr().includes(PASSWORD));
    assert.deepEqual(stack.deadLetters(), []);
  });
});

describe('fan-out under failures', () => {
  test('30 % failing functions: each gets every event exactly once, in order per subject', async () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const topic = 'VmPoweredOnEvent,VmPoweredOffEvent,DrsVmPoweredOnEvent';
    const gw = await startOpenFaasGateway({
      random,
      functions: ['a', 'b', 'c'].map((name) => ({ name, annotations: { topic }, failRate: 0.3 })),
    });
    cleanups.push(() => gw.close());
    const stack = await startStack({ address: gw.url, retries: 30 });
    cleanups.push(() => stack.cleanup());
    const subjects = ['VmPoweredOnEvent', 'VmPoweredOffEvent', 'DrsVmPoweredOnEvent'];
    const events = Array.from({ length: 90 }, (_, i) => vcenterEvent(i, { subject: subjects[i % 3], seq: i }));
    // One request at a time: the router's intake order is then the Seq order the check expects.
    await postEvents(stack.webhookUrl, events, { concurrency: 1 });
    await waitFor(() => ok(gw).length >= 270, { timeout: 30_000, what: '270 successful invocations' });
    await sleep(300);
    assert.ok(gw.state.invocations.some((i) => i.status === 500), 'failures were injected');
    for (const fn of ['a', 'b', 'c']) {
      assertExactlyOnce(gw, `${fn}.openfaas-fn`, events);
      // Never invoked again once it took the event, whatever its siblings did.
      const byId = new Map();
      for (const inv of gw.state.invocations.filter((i) => i.function === `${fn}.openfaas-fn`)) {
        const id = JSON.parse(inv.body).id;
        assert.ok(!byId.get(id), `${fn} invoked for ${id} after it had succeeded`);
        if (inv.status === 200) byId.set(id, true);
      }
      for (const subject of subjects) {
        // Every attempt of one function for one subject comes after the previous event succeeded.
        const seqs = gw.state.invocations.filter((i) => i.function === `${fn}.openfaas-fn` && i.status === 200).map((i) => JSON.parse(i.body)).filter((b) => b.subject === subject).map((b) => b.data.Seq);
        assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), `${fn}/${subject} in order`);
      }
    }
    assert.deepEqual(stack.deadLetters(), []);
  });

  test('501 and 4xx are final: one dead-letter line per failed function, the others still served', async () => {
    const gw = await startOpenFaasGateway({
      functions: [
        { name: 'good', annotations: { topic: 'VmPoweredOnEvent' } },
        { name: 'not-implemented', annotations: { topic: 'VmPoweredOnEvent' }, status: 501 },
        { name: 'bad-request', annotations: { topic: 'VmPoweredOnEvent' }, status: 400 },
      ],
    });
    cleanups.push(() => gw.close());
    const stack = await startStack({ address: gw.url });
    cleanups.push(() => stack.cleanup());
    const events = Array.from({ length: 4 }, (_, i) => vcenterEvent(i, { subject: 'VmPoweredOnEvent' }));
    await postEvents(stack.webhookUrl, events);
    await waitFor(() => stack.deadLetters().length >= 8, { timeout: 20_000, what: '8 dead letters' });
    await sleep(300);
    assert.equal(gw.state.invocations.filter((i) => i.function === 'not-implemented.openfaas-fn').length, 4, '501 not retried');
    assert.equal(gw.state.invocations.filter((i) => i.function === 'bad-request.openfaas-fn').length, 4, '400 not retried');
    assertExactlyOnce(gw, 'good.openfaas-fn', events);
    const lines = stack.deadLetters();
    assert.equal(lines.length, 8);
    assert.equal(lines.filter((l) => l.error.includes('function not-implemented.openfaas-fn: HTTP 501')).length, 4);
    assert.equal(lines.filter((l) => l.error.includes('function bad-request.openfaas-fn: HTTP 400')).length, 4);
    const stats = await (await fetch(`${stack.metricsUrl}/stats`)).json();
    assert.deepEqual(stats['vmware.event.router.stats'].openfaas.invocations.VmPoweredOnEvent, { SuccessCount: 4, FailureCount: 8 });
    assert.ok(!fs.readFileSync(path.join(stack.deadLetterDir, `${PROCESSOR}.jsonl`), 'utf8').includes(PASSWORD));
  });
});

describe('gateway outages and a changing function list', () => {
  test('gateway down at start: events wait for the function list, none is lost', async () => {
    const port = await freePort();
    const stack = await startStack({ address: `http://127.0.0.1:${port}`, waitReady: false });
    cleanups.push(() => stack.cleanup());
    await waitFor(async () => (await request(`${stack.metricsUrl}/healthz`, { method: 'GET' }).catch(() => ({}))).status === 200, { what: 'healthz' });
    assert.equal((await request(`${stack.metricsUrl}/readyz`, { method: 'GET' })).status, 503, 'not ready before the function list');
    const events = Array.from({ length: 20 }, (_, i) => vcenterEvent(i, { subject: 'VmPoweredOnEvent' }));
    await postEvents(stack.webhookUrl, events);
    await sleep(1500);
    assert.equal(stack.router.exited, null, 'the router keeps running');
    assert.match(stack.router.stderr(), /cannot read the function list/);
    const gw = await startOpenFaasGateway({ port, username: USER, password: PASSWORD, functions: [{ name: 'late', annotations: { topic: 'VmPoweredOnEvent' } }] });
    cleanups.push(() => gw.close());
    await waitFor(() => ok(gw).length >= 20, { timeout: 30_000, what: '20 invocations' });
    assertExactlyOnce(gw, 'late.openfaas-fn', events);
    assert.equal((await request(`${stack.metricsUrl}/readyz`, { method: 'GET' })).status, 200);
    assert.equal(stack.router.stderr().match(/cannot read the function list/g).length, 1, 'logged once per outage');
    const exit = await stack.router.stop('SIGTERM', 10_000);
    assert.equal(exit.code, 0, stack.router.stderr());
  });

  test('gateway restarting mid-stream loses nothing; functions added and removed at run time', async () => {
    const gw = await startOpenFaasGateway({ username: USER, password: PASSWORD, functions: [{ name: 'one', annotations: { topic: 'VmPoweredOnEvent' } }] });
    cleanups.push(() => gw.close());
    const stack = await startStack({ address: gw.url, extra: '    topicRefresh: 200ms', retries: 60 });
    cleanups.push(() => stack.cleanup());
    const first = Array.from({ length: 30 }, (_, i) => vcenterEvent(i, { subject: 'VmPoweredOnEvent' }));
    const sending = postEvents(stack.webhookUrl, first);
    await sleep(50);
    await gw.stop();
    await sleep(800);
    await gw.restart();
    await sending;
    await waitFor(() => new Set(idsOf(gw, 'one.openfaas-fn')).size >= 30, { timeout: 30_000, what: '30 events after the restart' });
    assertExactlyOnce(gw, 'one.openfaas-fn', first);

    gw.setFunctions([{ name: 'two', annotations: { topic: 'VmPoweredOnEvent' } }]);
    await sleep(1000);
    const second = Array.from({ length: 5 }, (_, i) => vcenterEvent(100 + i, { subject: 'VmPoweredOnEvent' }));
    await postEvents(stack.webhookUrl, second);
    await waitFor(() => idsOf(gw, 'two.openfaas-fn').length >= 5, { timeout: 10_000, what: 'the new function' });
    assertExactlyOnce(gw, 'two.openfaas-fn', second);
    assert.equal(idsOf(gw, 'one.openfaas-fn').length, 30, 'a removed function gets no more');
    assert.ok(!stack.router.stderr().includes(PASSWORD));
  });
});

describe('async', () => {
  test('async: true invokes /async-function/ and counts the 202 as success', async () => {
    const gw = await startOpenFaasGateway({ functions: [{ name: 'slow', annotations: { topic: 'VmPoweredOnEvent' } }] });
    cleanups.push(() => gw.close());
    const dir = makeTmpDir();
    const [webhookPort, metricsPort] = [await freePort(), await freePort()];
    const text = vebaConfig({ webhookPort, metricsPort, deadLetterDir: dir, address: gw.url }).replace('async: false', 'async: true');
    const router = startRouter(writeConfig(text, dir), [], { metricsPort });
    cleanups.push(() => router.stop());
    await router.waitReady();
    const events = Array.from({ length: 5 }, (_, i) => vcenterEvent(i, { subject: 'VmPoweredOnEvent' }));
    await postEvents(`http://127.0.0.1:${webhookPort}/webhook`, events);
    await waitFor(() => gw.state.invocations.length >= 5, { timeout: 10_000, what: '5 async invocations' });
    assert.ok(gw.state.invocations.every((i) => i.async && i.status === 200));
    await waitFor(async () => {
      const stats = (await request(`http://127.0.0.1:${metricsPort}/stats`, { method: "GET" })).body;
      return JSON.parse(stats)['vmware.event.router.stats'].openfaas.invocations?.VmPoweredOnEvent?.SuccessCount === 5;
    }, { timeout: 5000, what: 'stats' });
  });
});

describe('async with callback', () => {
  test('the callback decides: 200 counts, 500 and a missing callback are dead-lettered', async () => {
    const gw = await startOpenFaasGateway({
      functions: [
        { name: 'fine', annotations: { topic: 'VmPoweredOnEvent' }, delayMs: 50 },
        { name: 'broken', annotations: { topic: 'VmPoweredOnEvent' }, status: 500 },
        { name: 'silent', annotations: { topic: 'VmPoweredOnEvent' }, noCallback: true },
      ],
    });
    cleanups.push(() => gw.close());
    const dir = makeTmpDir();
    const deadLetterDir = path.join(dir, 'deadletter');
    fs.mkdirSync(deadLetterDir);
    const [webhookPort, metricsPort, callbackPort] = [await freePort(), await freePort(), await freePort()];
    const text = vebaConfig({ webhookPort, metricsPort, deadLetterDir, address: gw.url }).replace(
      'async: false',
      `async: true\n    callback:\n      bindAddress: 127.0.0.1:${callbackPort}\n      path: /of-callback\n      deadline: 1s`,
    );
    const router = startRouter(writeConfig(text, dir), [], { metricsPort });
    cleanups.push(() => router.stop());
    await router.waitReady();
    const events = Array.from({ length: 3 }, (_, i) => vcenterEvent(i, { subject: 'VmPoweredOnEvent' }));
    await postEvents(`http://127.0.0.1:${webhookPort}/webhook`, events);
    const deadLetters = () => readDeadLetters(path.join(deadLetterDir, `${PROCESSOR}.jsonl`));
    await waitFor(() => deadLetters().length >= 6, { timeout: 15_000, what: '6 dead letters' });
    for (const inv of gw.state.invocations) {
      assert.ok(inv.async);
      assert.match(inv.headers['x-callback-url'], new RegExp(`^http://127\\.0\\.0\\.1:${callbackPort}/of-callback\\?call=`));
    }
    const lines = deadLetters();
    assert.equal(lines.filter((l) => /function broken\.openfaas-fn: the callback says X-Function-Status 500/.test(l.error)).length, 3);
    assert.equal(lines.filter((l) => /function silent\.openfaas-fn: no callback within 1s/.test(l.error)).length, 3);
    assert.equal(gw.state.callbacks.filter((c) => c.status === 200 && c.answer === 200).length, 3);
    const stats = JSON.parse((await request(`http://127.0.0.1:${metricsPort}/stats`, { method: 'GET' })).body);
    assert.deepEqual(stats['vmware.event.router.stats'].openfaas.invocations.VmPoweredOnEvent, { SuccessCount: 3, FailureCount: 6 });
    // A callback after its deadline finds nothing waiting.
    const late = gw.state.invocations.find((i) => i.function === 'silent.openfaas-fn');
    const r = await request(late.headers['x-callback-url'], { headers: { 'X-Function-Status': '200', 'X-Call-Id': late.callId } });
    assert.equal(r.status, 410);
    const exit = await router.stop('SIGTERM', 10_000);
    assert.equal(exit.code, 0, router.stderr());
  });
});

describe('extensions and errors', () => {
  test('401 on /system names the user, never the password; readyz stays 503', async () => {
    const gw = await startOpenFaasGateway({ username: USER, password: 'the-real-one', functions: [{ name: 'x', annotations: { topic: 'VmPoweredOnEvent' } }] });
    cleanups.push(() => gw.close());
    const stack = await startStack({ address: gw.url, waitReady: false });
    cleanups.push(() => stack.cleanup());
    await waitFor(() => /the gateway refused user 'admin'/.test(stack.router.stderr()), { timeout: 10_000, what: 'the 401 in the log' });
    assert.match(stack.router.stderr(), /GET http:\/\/127\.0\.0\.1:\d+\/system\/namespaces: HTTP 401/);
    assert.equal((await request(`${stack.metricsUrl}/readyz`, { method: 'GET' })).status, 503);
    const prom = await (await fetch(`${stack.metricsUrl}/metrics`)).text();
    assert.match(prom, new RegExp(`event_router_openfaas_function_list_up\\{processor="${PROCESSOR}"\\} 0`));
    assert.match(prom, new RegExp(`event_router_openfaas_function_list_age_seconds\\{processor="${PROCESSOR}"\\} -1`));
    assert.ok(!stack.router.stderr().includes(PASSWORD));
  });

  test('no namespaces endpoint, topicFrom type, unmatched: deadletter, headers, invokeWithAuth', async () => {
    const gw = await startOpenFaasGateway({
      username: USER,
      password: PASSWORD,
      namespaces: false,
      functions: [{ name: 'by-type', annotations: { topic: 'com.example.created' } }],
    });
    cleanups.push(() => gw.close());
    const extra = ['    topicFrom: [subject, type]', '    unmatched: deadletter', '    invokeWithAuth: true', '    headers:', '      X-Team: ops'].join('\n');
    const stack = await startStack({ address: gw.url, extra });
    cleanups.push(() => stack.cleanup());
    const created = { specversion: '1.0', id: 'no-subject-1', source: 'webhook-client', type: 'com.example.created', datacontenttype: 'application/json', data: { x: 1 } };
    const other = { specversion: '1.0', id: 'nobody-2', source: 'webhook-client', type: 'com.example.other', datacontenttype: 'application/json', data: { x: 2 } };
    await postEvents(stack.webhookUrl, [created, other]);
    await waitFor(() => gw.state.invocations.length >= 1 && stack.deadLetters().length >= 1, { timeout: 10_000, what: 'one invocation and one dead letter' });
    assert.ok(gw.state.systemCalls.some((c) => c.path === '/system/functions' && c.query === ''), 'asked without a namespace');
    const inv = gw.state.invocations[0];
    assert.equal(inv.function, 'by-type.openfaas-fn');
    assert.equal(inv.headers['x-topic'], 'com.example.created');
    assert.equal(inv.headers['x-team'], 'ops');
    assert.equal(inv.headers.authorization, 'Basic ' + Buffer.from(`${USER}:${PASSWORD}`).toString('base64'), 'invokeWithAuth');
    const [line] = stack.deadLetters();
    assert.equal(line.event.id, 'nobody-2');
    assert.match(line.error, /no OpenFaaS function takes topic 'com\.example\.other'/);
    assert.ok(!JSON.stringify(stack.deadLetters()).includes(PASSWORD));
    assert.ok(!stack.router.stderr().includes(PASSWORD));
  });
});

describe('shutdown', () => {
  test('a function list refreshed all the time does not outlive the HTTP client (regression)', async () => {
    // The refresh timer used to be able to fire after the engine had closed the HTTP client.
    const gw = await startOpenFaasGateway({ functions: [{ name: 'x', annotations: { topic: 'VmPoweredOnEvent' } }] });
    cleanups.push(() => gw.close());
    for (let i = 0; i < 3; i++) {
      const stack = await startStack({ address: gw.url, extra: '    topicRefresh: 1ms' });
      cleanups.push(() => stack.cleanup());
      await postEvents(stack.webhookUrl, [vcenterEvent(i, { subject: 'VmPoweredOnEvent' })]);
      await sleep(200);
      const exit = await stack.router.stop('SIGTERM', 10_000);
      assert.equal(exit.code, 0, stack.router.stderr());
      assert.doesNotMatch(stack.router.stderr(), /cannot read the function list/);
    }
  });
});
