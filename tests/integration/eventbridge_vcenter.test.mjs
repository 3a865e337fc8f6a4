// vCenter -> scripts -> EventBridge: the govmomi simulator's events through the vcenter source, a
// Lua script (drops session events, tags the rest) and VEBA's aws_event_bridge processor on the
// fake endpoint. Every simulator event the rule's pattern matches arrives once, as VEBA builds
// the entry (Source = the vCenter URL, DetailType = the event class, Detail = the CloudEvent);
// the events it does not match are not sent.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildVcsim, startVcsim } from '../peers/vcsim.mjs';
import { startEventBridgeFake } from '../peers/eventbridge_fake.mjs';
import { freePort, makeTmpDir, readDeadLetters, sleep, startRouter, vcenterRouterConfig, waitFor, writeConfig } from './lib.mjs';
import { PASSWORD } from './vcenter_lib.mjs';

const KEY_ID = 'AKIAEVENTROUTERTEST1';
const SECRET = 'eventbridge/secret+key/0123456789abcdefXYZ';
const RULE = 'arn:aws:events:us-west-1:123456789012:rule/vmware-event-router';
// A real-shaped VEBA rule: on source, detail-type and a field of detail.
const PATTERN = {
  source: [{ prefix: 'http://127.0.0.1:' }],
  'detail-type': ['VmPoweredOffEvent', 'VmPoweredOnEvent'],
  detail: { data: { Vm: { Name: [{ prefix: 'DC0_' }] } } },
};

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

test('simulator events the rule matches arrive once each, as VEBA builds the entry', async () => {
  buildVcsim();
  const vc = await startVcsim({ lifetimeSeconds: 300 });
  cleanups.push(() => vc.stop());
  const fake = await startEventBridgeFake({
    region: 'us-west-1',
    keys: { [KEY_ID]: { secret: SECRET } },
    rules: [{ Name: 'vmware-event-router', Arn: RULE, EventPattern: JSON.stringify(PATTERN), State: 'ENABLED', EventBusName: 'default' }],
  });
  cleanups.push(() => fake.close());
  const dir = makeTmpDir();
  const scriptsDir = path.join(dir, 'scripts');
  fs.mkdirSync(scriptsDir);
  fs.writeFileSync(path.join(scriptsDir, '10-tag.lua'), `function process(event)
  if event.subject == 'UserLoginSessionEvent' or event.subject == 'UserLogoutSessionEvent' then return false end
  event.extensions.team = 'ops'
end`);
  const metricsPort = await freePort();
  const config = vcenterRouterConfig({ address: vc.url, username: vc.username, password: PASSWORD, metricsPort, sinkUrl: 'http://127.0.0.1:9/', deadLetterDir: path.join(dir, 'dl') });
  // VEBA's aws_event_bridge block, plus the endpoint extension.
  config.eventProcessor = {
    type: 'aws_event_bridge',
    name: 'veba-demo-aws-eventbridge',
    awsEventBridge: { eventBus: 'default', region: 'us-west-1', ruleARN: RULE, endpoint: fake.url, auth: { type: 'aws_access_key', awsAccessKeyAuth: { accessKey: KEY_ID, secretKey: SECRET } } },
  };
  config.scripts = { dir: scriptsDir };
  const router = startRouter(writeConfig(config, dir), [], { metricsPort });
  cleanups.push(() => router.stop());
  await router.waitReady(15_000);
  const vms = ['DC0_H0_VM0', 'DC0_H0_VM1', 'DC0_C0_RP0_VM0'];
  for (const name of vms) {
    await vc.control(`/vm/poweroff?name=${name}`);
    await vc.control(`/vm/poweron?name=${name}`);
  }
  await vc.control('/event/post', { kind: 'GeneralUserEvent', message: 'no rule matches this' });
  const power = () => fake.state.accepted.filter((a) => ['VmPoweredOffEvent', 'VmPoweredOnEvent'].includes(a.entry.DetailType));
  await waitFor(() => power().length >= vms.length * 2, { timeout: 30_000, what: 'the power events at EventBridge' }).catch((err) => {
    throw new Error(`${err.message}: ${JSON.stringify(fake.state.accepted.map((a) => [a.entry.DetailType, a.detail.data?.Vm?.Name]))} ${router.stderr().slice(-3000)}`);
  });
  await sleep(1500);
  const accepted = fake.state.accepted;
  const ids = accepted.map((a) => a.detail.id);
  assert.equal(new Set(ids).size, ids.length, 'no event twice');
  for (const name of vms)
    for (const type of ['VmPoweredOffEvent', 'VmPoweredOnEvent'])
      assert.equal(accepted.filter((a) => a.entry.DetailType === type && a.detail.data.Vm.Name === name).length, 1, `${type} ${name}`);
  for (const a of accepted) {
    assert.ok(['VmPoweredOffEvent', 'VmPoweredOnEvent'].includes(a.entry.DetailType), `only matched events: ${a.entry.DetailType}`);
    assert.equal(a.entry.Source, a.detail.source);
    assert.match(a.entry.Source, /^http:\/\/127\.0\.0\.1:\d+\/sdk$/);
    assert.equal(a.entry.DetailType, a.detail.subject);
    assert.equal(a.entry.EventBusName, 'default');
    assert.ok(Math.abs(a.entry.Time - Date.parse(a.detail.time) / 1000) < 0.001, `Time ${a.entry.Time} for ${a.detail.time}`);
    assert.equal(a.detail.team, 'ops', 'the script ran before the processor');
    assert.equal(a.detail.specversion, '1.0');
  }
  assert.deepEqual(fake.state.refused, []);
  assert.deepEqual(readDeadLetters(path.join(dir, 'dl', 'veba-demo-aws-eventbridge.jsonl')), []);
  const stats = await (await fetch(`http://127.0.0.1:${metricsPort}/stats`)).json();
  assert.ok(stats['vmware.event.router.stats'].aws_event_bridge.filtered >= 1, 'GeneralUserEvent and the others were filtered');
  const exit = await router.stop();
  assert.equal(exit.code, 0, router.stderr());
  assert.doesNotMatch(router.stderr(), /Sanitizer|runtime error/);
});
