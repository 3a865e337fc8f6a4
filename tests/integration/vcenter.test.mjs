// The vCenter source end to end: the govmomi simulator (tests/peers/vcsim) -> event-router
// (vcenter source -> knative processor) -> a CloudEvents sink built on the official SDK.
// Every event the simulator records while the router runs must reach the sink exactly once, in
// key order, with the attributes of the chosen event format and, as data, exactly the JSON govmomi
// itself produces for that event.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { eventData, freePort, sleep, waitFor } from './lib.mjs';
import { startVcsim } from '../peers/vcsim.mjs';
import { PASSWORD, assertExactlyOnceInOrder, goldenByKey, keyOf, newestKey, startVcenterStack } from './vcenter_lib.mjs';

const stacks = [];
after(async () => {
  for (const s of stacks) await s.cleanup();
});


/** Power ops, a VM created and destroyed, and each kind of posted event; waits for the sink to
 * catch up after each step (the simulator only shows a collector its newest 10 events). */
async function exercise(stack, since, tag) {
  const { vc } = stack;
  const steps = [
    () => vc.control('/vm/poweroff?name=DC0_H0_VM0'),
    () => vc.control('/vm/poweron?name=DC0_H0_VM0'),
    () => vc.control(`/vm/create?name=${tag}-vm`),
    () => vc.control(`/vm/destroy?name=${tag}-vm`),
    () => vc.control('/event/post', { kind: 'EventEx', eventTypeId: 'com.example.backup.done', message: 'backup done', vm: 'DC0_H0_VM1' }),
    () => vc.control('/event/post', { kind: 'ExtendedEvent', eventTypeId: 'com.example.ext', message: 'extended' }),
    () => vc.control('/event/post', { kind: 'GeneralUserEvent', message: 'hello from a user' }),
  ];
  for (const step of steps) {
    await step();
    await stack.waitCaughtUp(since);
  }
}

const API_VERSION = /^[0-9]+(\.[0-9]+)+$/;

test('router format: every recorded event once, in key order, VEBA attributes, govmomi data', async (t) => {
  const stack = await startVcenterStack();
  stacks.push(stack);
  await stack.start();
  const since = await newestKey(stack.vc);
  await exercise(stack, since, 'router');

  const keys = assertExactlyOnceInOrder(stack, since);
  const golden = await goldenByKey(stack.vc);
  const classes = new Set();
  const ids = new Set();
  for (const e of stack.sink.events) {
    const key = keyOf(e);
    if (key <= since) continue;
    const g = golden.get(key);
    assert.ok(g, `key ${key} is in the simulator's history`);
    classes.add(g.class);
    assert.deepStrictEqual(eventData(e), g.json, `data of ${key} (${g.class}) equals govmomi's JSON`);
    const category = g.class === 'EventEx' ? 'eventex' : g.class === 'ExtendedEvent' ? 'extendedevent' : 'event';
    assert.equal(e.type, `com.vmware.event.router/${category}`, `type of ${g.class}`);
    const subject = category === 'event' ? g.class : g.json.EventTypeId;
    assert.equal(e.subject, subject, `subject of ${key}`);
    assert.equal(e.source, stack.vc.url);
    assert.equal(e.specversion, '1.0');
    assert.match(e.datacontenttype, /^application\/json/);
    assert.match(String(e.vsphereapiversion), API_VERSION);
    assert.equal(new Date(e.time).getTime(), new Date(g.json.CreatedTime).getTime(), `time of ${key}`);
    assert.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(!ids.has(e.id), 'ids are unique');
    ids.add(e.id);
  }
  for (const c of ['VmStoppingEvent', 'VmPoweredOffEvent', 'VmPoweredOnEvent', 'VmCreatedEvent', 'VmRemovedEvent', 'EventEx', 'ExtendedEvent', 'GeneralUserEvent'])
    assert.ok(classes.has(c), `saw a ${c} (saw ${[...classes].join(' ')})`);
  t.diagnostic(`${keys.length} events (keys ${keys[0]}..${keys.at(-1)}), ${classes.size} classes`);
  assert.equal(stack.sink.counters.invalid, 0);
});

test('sources-for-knative format: type com.vmware.vsphere.<Class>.v0, id = Key, eventclass', async (t) => {
  const stack = await startVcenterStack({ eventFormat: 'sources-for-knative' });
  stacks.push(stack);
  await stack.start();
  const since = await newestKey(stack.vc);
  await exercise(stack, since, 'sfk');

  const keys = assertExactlyOnceInOrder(stack, since);
  const golden = await goldenByKey(stack.vc);
  for (const e of stack.sink.events) {
    const key = keyOf(e, 'sources-for-knative');
    if (key <= since) continue;
    const g = golden.get(key);
    assert.ok(g, `key ${key} is in the simulator's history`);
    assert.equal(e.id, String(g.key));
    const category = g.class === 'EventEx' ? 'eventex' : g.class === 'ExtendedEvent' ? 'extendedevent' : 'event';
    // EventEx/ExtendedEvent are named by their EventTypeId, as sources-for-knative does.
    const name = category === 'event' ? g.class : g.json.EventTypeId;
    assert.equal(e.type, `com.vmware.vsphere.${name}.v0`);
    assert.equal(e.eventclass, category);
    assert.equal(e.source, stack.vc.url);
    assert.match(String(e.vsphereapiversion), API_VERSION);
    assert.deepStrictEqual(eventData(e), g.json, `data of ${key} (${g.class}) equals govmomi's JSON`);
  }
  t.diagnostic(`${keys.length} events`);
});

test('wrong password at startup: InvalidLogin names the user, never the password; exit status 1', async () => {
  // The peer started with a fixed login makes the simulator refuse any other one.
  const stack = await startVcenterStack({ checkpoint: false, login: { username: 'admin@vsphere.local', password: 'Right-0ne' } });
  stacks.push(stack);
  const router = await stack.start({ wait: false, username: 'admin@vsphere.local', password: PASSWORD });
  const exit = await Promise.race([router.exit, sleep(15_000).then(() => null)]);
  assert.ok(exit, 'the router exits instead of retrying a refused login');
  assert.equal(exit.code, 1);
  assert.match(router.stderr(), /admin@vsphere\.local/);
  assert.match(router.stderr(), /login failed for user "admin@vsphere\.local": invalid user name or password/);
  assert.ok(!router.stderr().includes(PASSWORD), 'the password is never logged');

  const good = await stack.start({ username: 'admin@vsphere.local', password: 'Right-0ne' });
  assert.equal(good.exited, null, 'the right password runs');
});

test('empty password: refused at startup, the field named, the router exits non-zero', async () => {
  const stack = await startVcenterStack({ checkpoint: false });
  stacks.push(stack);
  const router = await stack.start({ wait: false, username: 'alice@vsphere.local', password: '' });
  const exit = await Promise.race([router.exit, sleep(10_000).then(() => null)]);
  assert.ok(exit, 'the router exits');
  assert.notEqual(exit.code, 0);
  assert.match(router.stderr(), /eventProvider\.vcenter\.auth\.basicAuth\.password: must not be empty/);
});

test('vCenter unreachable at startup: not ready, keeps retrying, password never logged; then connects', async (t) => {
  const stack = await startVcenterStack({ checkpoint: false });
  stacks.push(stack);
  // A second simulator on a port that is closed for now: the router starts before it exists.
  const port = await freePort();
  const router = await stack.start({ wait: false, username: 'alice@vsphere.local', address: `http://127.0.0.1:${port}/sdk` });
  await waitFor(() => /unreachable/.test(router.stderr()), { timeout: 10_000, what: 'an unreachable error' });
  const deadline = Date.now() + 2500;
  while (Date.now() < deadline) {
    assert.equal(router.exited, null, 'the router keeps running');
    assert.equal(await stack.readyStatus(), 503);
    await sleep(250);
  }
  const late = await startVcsim({ port, lifetimeSeconds: 120 });
  try {
    // Backoff is capped full jitter from 0.5 s doubling: within a few seconds of the vCenter appearing.
    await router.waitReady(20_000);
    const since = await newestKey(late);
    await late.control('/vm/poweroff?name=DC0_H0_VM1');
    await waitFor(async () => {
      const want = (await late.events(100)).filter((e) => e.key > since).map((e) => e.key);
      const got = new Set(stack.keys());
      return want.length >= 2 && want.every((k) => got.has(k));
    }, { timeout: 10_000, what: 'the power-off events from the late vCenter' });
    t.diagnostic(`retries logged before connecting: ${(router.stderr().match(/unreachable/g) ?? []).length}`);
    await router.stop();
    assert.ok(!stack.allStderr().includes(PASSWORD), 'the password is never logged');
  } finally {
    await late.stop();
  }
});
