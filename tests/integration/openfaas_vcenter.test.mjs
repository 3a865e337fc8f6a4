// vCenter -> OpenFaaS: the govmomi simulator's events through the vcenter source, a VEBA
// openfaas processor on the fake gateway and, beside it, a Knative processor in structured mode
// on a plain capturing HTTP server. Each event reaches exactly the functions whose topic names
// its subject, and the body each function gets is byte for byte the Knative processor's body (so
// `data` is identical), a CloudEvent the SDK decodes.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { HTTP } from '../peers/node_modules/cloudevents/dist/index.js';
import { buildVcsim, startVcsim } from '../peers/vcsim.mjs';
import { startOpenFaasGateway } from '../peers/openfaas_gateway.mjs';
import { freePort, makeTmpDir, startRouter, vcenterRouterConfig, waitFor, writeConfig } from './lib.mjs';
import { PASSWORD } from './vcenter_lib.mjs';

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function startCapture() {
  const bodies = new Map(); // CloudEvent id -> raw body
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      bodies.set(JSON.parse(body).id, body);
      res.writeHead(200);
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { bodies, url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) };
}

test('simulator events reach the functions whose topic matches, with the Knative body', async () => {
  buildVcsim();
  const vc = await startVcsim({ lifetimeSeconds: 300 });
  cleanups.push(() => vc.stop());
  const capture = await startCapture();
  cleanups.push(() => capture.close());
  const gw = await startOpenFaasGateway({
    username: 'admin',
    password: 'gw-secret-vc',
    functions: [
      { name: 'power', annotations: { topic: 'VmPoweredOffEvent, VmPoweredOnEvent' } },
      { name: 'starts', namespace: 'ops', annotations: { topic: 'VmPoweredOnEvent,VmStartingEvent' } },
      { name: 'backup', annotations: { topic: 'com.example.backup.done' } },
    ],
  });
  cleanups.push(() => gw.close());
  const dir = makeTmpDir();
  const metricsPort = await freePort();
  const config = vcenterRouterConfig({ address: vc.url, username: vc.username, password: PASSWORD, metricsPort, sinkUrl: capture.url, deadLetterDir: path.join(dir, 'dl') });
  config.eventProcessor.knative.encoding = 'structured';
  config.eventProcessors = [
    config.eventProcessor,
    { type: 'openfaas', name: 'veba-demo-openfaas', openfaas: { address: gw.url, async: false, auth: { type: 'basic_auth', basicAuth: { username: 'admin', password: 'gw-secret-vc' } } } },
  ];
  delete config.eventProcessor;
  const router = startRouter(writeConfig(config, dir), [], { metricsPort });
  cleanups.push(() => router.stop());
  await router.waitReady(15_000);
  const before = capture.bodies.size;
  await vc.control('/vm/poweroff?name=DC0_H0_VM0');
  await vc.control('/vm/poweron?name=DC0_H0_VM0');
  await vc.control('/event/post', { kind: 'EventEx', eventTypeId: 'com.example.backup.done', message: 'backup done', vm: 'DC0_H0_VM1' });
  await vc.control('/event/post', { kind: 'GeneralUserEvent', message: 'nobody listens' });
  const wanted = ['VmPoweredOffEvent', 'VmPoweredOnEvent', 'com.example.backup.done', 'GeneralUserEvent'];
  await waitFor(() => {
    const seen = new Set([...capture.bodies.values()].map((b) => JSON.parse(b).subject));
    return wanted.every((s) => seen.has(s));
  }, { timeout: 20_000, what: 'the events at the Knative sink' });
  // Events about different objects are delivered in parallel: let the last ones land.
  await waitFor(async () => {
    const size = capture.bodies.size;
    await new Promise((r) => setTimeout(r, 700));
    return capture.bodies.size === size;
  }, { timeout: 20_000, what: 'the Knative sink to settle' });
  const topics = { 'power.openfaas-fn': ['VmPoweredOffEvent', 'VmPoweredOnEvent'], 'starts.ops': ['VmPoweredOnEvent', 'VmStartingEvent'], 'backup.openfaas-fn': ['com.example.backup.done'] };
  const expected = [];
  for (const body of capture.bodies.values()) {
    const subject = JSON.parse(body).subject;
    for (const [fn, list] of Object.entries(topics)) if (list.includes(subject)) expected.push({ fn, body });
  }
  assert.ok(capture.bodies.size > before);
  assert.ok(expected.some((e) => e.fn === 'backup.openfaas-fn'), 'an EventEx matched by its EventTypeId subject');
  assert.ok(expected.some((e) => e.fn === 'starts.ops'));
  await waitFor(() => gw.state.invocations.length >= expected.length, { timeout: 20_000, what: `${expected.length} invocations` });
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(gw.state.invocations.length, expected.length, 'no function got an event its topics do not name');
  for (const { fn, body } of expected) {
    const id = JSON.parse(body).id;
    const got = gw.state.invocations.filter((i) => i.function === fn && JSON.parse(i.body).id === id);
    assert.equal(got.length, 1, `${fn} got ${id} once`);
    assert.equal(got[0].body, body, `${fn}: the body is the Knative processor's, byte for byte`);
    const ce = HTTP.toEvent({ headers: { 'content-type': 'application/cloudevents+json' }, body: got[0].body });
    ce.validate();
    assert.equal(got[0].headers['x-topic'], ce.subject);
  }
  assert.ok(!router.stderr().includes(PASSWORD) && !router.stderr().includes('gw-secret-vc'));
  const exit = await router.stop('SIGTERM', 10_000);
  assert.equal(exit.code, 0, router.stderr());
});
