// The vCenter source across failures, against the govmomi simulator: a clean stop and restart on
// the checkpoint, a kill -9 while events flow, and a vCenter restart under the router.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, test } from 'node:test';
import { sleep, waitFor } from './lib.mjs';
import { assertExactlyOnceInOrder, assertKeyOrderPerObject, goldenByKey, keyOf, newestKey, startVcenterStack } from './vcenter_lib.mjs';

// Events that happen while the router is not connected are read back through a backlog event
// collector with a page of 1000 (this simulator, govmomi 0.24.2, fills a new collector's page with
// the newest event and the OLDEST others, and ReadNextEvents serves only that page: with the
// default page of 10 every missed event but the newest was skipped). Each test asserts that every
// event of the disconnected window arrives.

const stacks = [];
after(async () => {
  for (const s of stacks) await s.cleanup();
});


test('SIGTERM, events while down, restart: clean exit, VEBA checkpoint file, resumes after its key, none twice', async (t) => {
  const stack = await startVcenterStack();
  stacks.push(stack);
  const { vc } = stack;
  const first = await stack.start();
  const since = await newestKey(vc);
  await vc.control('/vm/poweroff?name=DC0_H0_VM0');
  await vc.control('/event/post', { kind: 'EventEx', eventTypeId: 'com.example.before', message: 'before stop' });
  await stack.waitCaughtUp(since);
  const exit = await first.stop('SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, `clean exit\n${first.stderr()}`);

  // The checkpoint has the VMware Event Router's fields, at the last event delivered.
  const lastKey = Math.max(...stack.keys());
  const delivered = stack.sink.events.find((e) => keyOf(e) === lastKey);
  const golden = await goldenByKey(vc);
  const cp = stack.readCheckpoint();
  assert.deepEqual(Object.keys(cp).sort(), ['createdTimestamp', 'lastEventKey', 'lastEventKeyTimestamp', 'lastEventType', 'lastEventUUID', 'vCenter']);
  assert.equal(cp.vCenter, '127.0.0.1');
  assert.equal(cp.lastEventKey, lastKey);
  assert.equal(cp.lastEventType, golden.get(lastKey).class);
  assert.equal(cp.lastEventUUID, delivered.id);
  assert.equal(new Date(cp.lastEventKeyTimestamp).getTime(), new Date(golden.get(lastKey).json.CreatedTime).getTime());
  assert.ok(Math.abs(Date.now() - new Date(cp.createdTimestamp).getTime()) < 60_000, 'createdTimestamp is recent');

  // While it is down: a power-off and a posted event (plus the first run's own logout event).
  await vc.control('/vm/poweroff?name=DC0_H0_VM1');
  await vc.control('/event/post', { kind: 'EventEx', eventTypeId: 'com.example.while-down', message: 'while down' });
  // Many more than the follow collector's page of 10: the backlog collector must bring them.
  await vc.control('/events/post-many?count=300');
  const downTo = await newestKey(vc);
  assert.ok(downTo >= lastKey + 303, 'events happened while the router was down');

  const second = await stack.start();
  assert.match(second.stderr(), new RegExp(`resuming after event key ${lastKey}\\b`));
  const afterStart = await newestKey(vc);
  await vc.control('/vm/poweron?name=DC0_H0_VM1');
  await stack.waitCaughtUp(since);
  const keys = assertExactlyOnceInOrder(stack, since);
  const missed = keys.filter((k) => k > lastKey && k <= downTo);
  t.diagnostic(`before stop ${lastKey - since} events, while down ${downTo - lastKey} (keys ${lastKey + 1}..${downTo}) ` +
    `of which ${missed.length} arrived, total ${keys.length}`);
  assert.equal(missed.length, downTo - lastKey, 'every event of the downtime arrived');
  assert.ok(keys.some((k) => k > afterStart), 'and the ones after the restart');
});

test('kill -9 while events flow, restart: duplicates only after the checkpoint, order kept', async (t) => {
  const stack = await startVcenterStack();
  stacks.push(stack);
  const { vc } = stack;
  const first = await stack.start();
  const since = await newestKey(vc);

  // A steady stream: power ops on two VMs and an EventEx, one operation every 150 ms.
  let running = true;
  let ops = 0;
  const stream = (async () => {
    const on = { DC0_H0_VM0: true, DC0_H0_VM1: true };
    while (running) {
      const i = ops++;
      if (i % 3 === 2) {
        await vc.control('/event/post', { kind: 'EventEx', eventTypeId: 'com.example.tick', message: `tick ${i}` });
      } else {
        const vm = i % 3 === 0 ? 'DC0_H0_VM0' : 'DC0_H0_VM1';
        await vc.control(`/vm/${on[vm] ? 'poweroff' : 'poweron'}?name=${vm}`);
        on[vm] = !on[vm];
      }
      await sleep(150);
    }
  })();

  await stack.sink.waitForCount(8, 10_000);
  // Checkpoints are written every second: kill once one exists, while events keep flowing.
  await waitFor(() => fs.existsSync(stack.checkpointFile()) && stack.readCheckpoint().lastEventKey > since,
    { timeout: 5000, what: 'a first checkpoint' });
  await stack.sink.waitForCount(stack.sink.byId.size + 2, 5000);
  first.proc.kill('SIGKILL');
  await first.exit;
  const received = stack.keys().length;
  const cp = fs.existsSync(stack.checkpointFile()) ? stack.readCheckpoint() : { lastEventKey: since };
  await sleep(300);
  await stack.start();
  await sleep(1500);
  running = false;
  await stream;
  const last = await newestKey(vc);
  await vc.control('/event/post', { kind: 'EventEx', eventTypeId: 'com.example.last', message: 'last' });
  await stack.waitCaughtUp(last, 10_000);

  const counts = new Map();
  for (const k of stack.keys().filter((k) => k > since)) counts.set(k, (counts.get(k) ?? 0) + 1);
  const recorded = (await vc.events(1000)).filter((e) => e.key > since);
  const lost = recorded.filter((e) => !counts.has(e.key)).map((e) => `${e.key}:${e.class}`);
  const duplicated = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
  for (const k of duplicated) assert.ok(k > cp.lastEventKey, `duplicate ${k} is after the checkpoint ${cp.lastEventKey}`);
  // Within each run delivery is in key order; the second run starts after the checkpoint.
  const secondRun = stack.sink.events.slice(received);
  assertKeyOrderPerObject(secondRun);
  for (const e of secondRun) assert.ok(keyOf(e) > cp.lastEventKey, 'the second run starts after the checkpoint');
  t.diagnostic(`${ops} operations, ${recorded.length} events, ${received} delivered before the kill, ` +
    `checkpoint at ${cp.lastEventKey - since} of them, ${duplicated.length} duplicates, ${lost.length} lost (${lost.join(' ')})`);
  assert.deepEqual(lost, [], 'nothing is lost');
});

test('vCenter restart: not ready while it is down, logs in again, later events arrive once', async (t) => {
  const stack = await startVcenterStack();
  stacks.push(stack);
  const { vc } = stack;
  const router = await stack.start();
  const since = await newestKey(vc);
  await vc.control('/vm/poweroff?name=DC0_H0_VM0');
  await stack.waitCaughtUp(since);

  const restarted = vc.control('/restart?down_ms=2000');
  const statuses = new Set();
  await waitFor(async () => {
    statuses.add(await stack.readyStatus());
    return statuses.has(503);
  }, { timeout: 5000, interval: 50, what: '/readyz 503 while vCenter is down' });
  const answer = await restarted;
  assert.ok(answer.sessionsEnded >= 1, 'the router had a session');
  await router.waitReady(20_000);
  assert.equal(await stack.readyStatus(), 200);
  assert.match(router.stderr(), /reconnecting in/);
  assert.ok((router.stderr().match(/connected to 127\.0\.0\.1/g) ?? []).length >= 2, 'logged in again');

  // Every event since the first: those of the disconnected window (the control API's own
  // re-login happened while the router was still disconnected) and the later ones.
  const reconnected = await newestKey(vc);
  await vc.control('/vm/poweron?name=DC0_H0_VM0');
  await vc.control('/event/post', { kind: 'ExtendedEvent', eventTypeId: 'com.example.after-restart', message: 'after' });
  await stack.waitCaughtUp(since, 15_000);
  const keys = assertExactlyOnceInOrder(stack, since);
  const window = keys.filter((k) => k > since && k <= reconnected);
  t.diagnostic(`${keys.length} events across the restart (${window.length} up to the reconnect), saw readyz ${[...statuses].join(',')}`);
  assert.ok(keys.some((k) => k > reconnected), 'events after the reconnect arrived');
});
