// The vCenter source under event storms, at startup and across a lost session, against the govmomi
// simulator (tests/peers/vcsim). The simulator numbers every event it records with the next key
// (PostEvent: key++), so "every event" is exactly the keys since+1..newest: each test asserts that
// set arrived, none twice, and in key order per object. The simulator keeps only its newest 1000
// events, so nothing here may rely on reading history back except within that ring.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { eventData, sleep, waitFor } from './lib.mjs';
import { assertExactlyOnceInOrder, keyOf, newestKey, orderingObject, startVcenterStack } from './vcenter_lib.mjs';

// Generous: the ASan build delivers a 10,000 burst several times slower than the release one.
const SETTLE_MS = Number(process.env.EVENT_ROUTER_STORM_TIMEOUT_MS ?? 180_000);

const VMS = 'DC0_H0_VM0,DC0_H0_VM1,DC0_C0_RP0_VM0,DC0_C0_RP0_VM1';

const stacks = [];
after(async () => {
  for (const s of stacks) await s.cleanup();
});

async function stormStack() {
  const stack = await startVcenterStack({ delivery: { maxInFlight: 64, timeout: '60s' } });
  stacks.push(stack);
  return stack;
}

/** Waits until the sink holds every key in since+1..newest, then asserts exactly that set. */
async function assertAllDelivered(stack, since, what) {
  const newest = await newestKey(stack.vc);
  let have = 0;
  await waitFor(
    () => {
      have = new Set(stack.keys().filter((k) => k > since && k <= newest)).size;
      return have === newest - since;
    },
    { timeout: SETTLE_MS, interval: 200, what: `${what}: every key ${since + 1}..${newest}` },
  ).catch((err) => {
    const got = new Set(stack.keys());
    const missing = [];
    for (let k = since + 1; k <= newest && missing.length < 20; k++) if (!got.has(k)) missing.push(k);
    throw new Error(`${err.message}; ${have} of ${newest - since}, first missing ${missing.join(' ')}\n` +
      `router stderr (tail):\n${stack.router.stderr().slice(-3000)}`);
  });
  const keys = assertExactlyOnceInOrder(stack, since).filter((k) => k <= newest);
  const perObject = new Set(stack.sink.events.filter((e) => keyOf(e) > since).map((e) => orderingObject(eventData(e))));
  assert.ok(perObject.size >= 4, `${what}: events about the four VMs, each in key order`);
  assert.equal(keys.length, newest - since, `${what}: no key twice`);
  assert.doesNotMatch(stack.router.stderr(), /lost:|absent from vCenter/, `${what}: no loss reported`);
  return newest;
}

test('bursts of 1,000, 5,000 and 10,000 events posted at once: every key once', async () => {
  const stack = await stormStack();
  await stack.start();
  let since = await newestKey(stack.vc);
  for (const count of [1000, 5000, 10000]) {
    // Spread over four VMs: the router keeps each VM's events in key order, the rest in parallel.
    const r = await stack.vc.control(`/events/post-many?count=${count}&workers=4&vms=${VMS}`);
    assert.equal(r.posted, count);
    since = await assertAllDelivered(stack, since, `burst of ${count}`);
  }
});

test('steady 1,000 and 2,000 events/s for 10 s: every key once', async () => {
  const stack = await stormStack();
  await stack.start();
  let since = await newestKey(stack.vc);
  for (const rate of [1000, 2000]) {
    // Every 100 ms a tenth of the rate, posted in-process at once.
    const start = Date.now();
    for (let tick = 0; tick < 100; tick++) {
      const due = start + tick * 100;
      if (due > Date.now()) await sleep(due - Date.now());
      await stack.vc.control(`/events/post-many?count=${rate / 10}&workers=2&vms=${VMS}`);
    }
    since = await assertAllDelivered(stack, since, `steady ${rate}/s`);
  }
});

test('900 events of backlog and 50 posted right after /readyz: all 950 (and the logins) arrive', async () => {
  const stack = await stormStack();
  const first = await stack.start();
  const since = await newestKey(stack.vc);
  await stack.vc.control('/event/post', { kind: 'GeneralUserEvent', message: 'before the stop' });
  await waitFor(() => stack.keys().includes(since + 1), { timeout: 10_000, what: 'the first event' });
  await waitFor(() => stack.readCheckpoint().lastEventKey >= since + 1, { timeout: 10_000, what: 'the checkpoint' });
  await first.stop('SIGTERM', 10_000);
  await stack.vc.control(`/events/post-many?count=900&workers=4&vms=${VMS}`);
  await stack.start(); // returns once /readyz says 200
  await stack.vc.control(`/events/post-many?count=50&workers=1&vms=${VMS}`);
  // Everything after the checkpoint: the first run's events up to its logout, the 900, the new
  // run's login and the 50.
  await assertAllDelivered(stack, since, 'backlog + startup');
});

test('a session ended by another session mid-stream: re-login, every key once', async () => {
  const stack = await stormStack();
  await stack.start();
  const since = await newestKey(stack.vc);
  const start = Date.now();
  for (let tick = 0; tick < 60; tick++) {
    const due = start + tick * 100;
    if (due > Date.now()) await sleep(due - Date.now());
    if (tick === 20) {
      const r = await stack.vc.control('/sessions/terminate');
      assert.ok(r.sessionsEnded >= 2, 'the router and the control client had sessions');
    }
    await stack.vc.control(`/events/post-many?count=50&workers=1&vms=${VMS}`);
  }
  await assertAllDelivered(stack, since, 'session ended mid-stream');
  assert.match(stack.router.stderr(), /not authenticated/i, 'the router saw its session end');
  assert.ok(stack.keys().map(Number).every((k) => Number.isInteger(k)), 'every event has a key');
});
