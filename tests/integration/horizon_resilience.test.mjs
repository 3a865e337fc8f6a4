// The Horizon source across failures, against the fake Horizon server: Horizon down and back, a
// clean stop and restart on the checkpoint, kill -9 while events flow, and maxReplayAge.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, test } from 'node:test';
import { request, sleep, waitFor } from './lib.mjs';
import { assertExactlyOnce, PASSWORD, startHorizonStack } from './horizon_lib.mjs';

const stacks = [];
after(async () => {
  for (const s of stacks) await s.cleanup();
});

const ONE_AT_A_TIME = { maxInFlight: 1 };

async function readyStatus(router) {
  return (await request(`${router.metricsUrl}/readyz`, { method: 'GET', timeoutMs: 1000 })).status;
}

test('Horizon down and back while events keep coming: not ready meanwhile, then every event once, in order', async (t) => {
  const stack = await startHorizonStack({ delivery: ONE_AT_A_TIME });
  stacks.push(stack);
  const { hz } = stack;
  const router = await stack.start();
  await waitFor(() => hz.counters.pages >= 2, { what: 'the first polls' });
  const first = hz.events.length;
  hz.startFeed(60, { sameMs: 2 });
  await sleep(1500);
  await hz.setDown(true);
  await waitFor(async () => (await readyStatus(router)) === 503, { timeout: 10_000, what: '/readyz 503 while Horizon is down' });
  await sleep(2500); // events keep arriving in Horizon's database meanwhile
  const whileDown = hz.events.length;
  await hz.setDown(false);
  await waitFor(async () => (await readyStatus(router)) === 200, { timeout: 15_000, what: '/readyz 200 once Horizon is back' });
  await sleep(1000);
  await hz.stopFeed();
  const all = hz.events.slice(first);
  await stack.waitDelivered(all);
  await sleep(1500);
  assertExactlyOnce(stack, all);
  t.diagnostic(`${all.length} events, ${whileDown - first} of them before Horizon came back`);
  assert.match(router.stderr(), /audit-events: .*\(retrying in/);
  assert.ok(!router.stderr().includes(PASSWORD));
});

test('SIGTERM, events while stopped, restart: checkpoint at the last delivered event, resumes there, none twice', async () => {
  const stack = await startHorizonStack({ checkpoint: true, delivery: ONE_AT_A_TIME });
  stacks.push(stack);
  const { hz } = stack;
  hz.addEvents(4);
  const first = await stack.start();
  const run1 = [...hz.events].sort((a, b) => a.time - b.time || a.id - b.id).slice(-10);
  run1.push(...hz.addEvents(6, { sameMs: 3 }));
  await stack.waitDelivered(run1);
  assert.deepEqual(await first.stop('SIGTERM'), { code: 0, signal: null }, first.stderr());

  const last = run1[run1.length - 1];
  const cp = stack.readCheckpoint();
  assert.deepEqual(Object.keys(cp).sort(), ['createdTimestamp', 'horizon', 'lastEventId', 'lastEventIds', 'lastEventTime', 'lastEventTimestamp', 'lastEventType']);
  assert.equal(cp.horizon, '127.0.0.1');
  assert.equal(cp.lastEventTime, last.time);
  assert.equal(cp.lastEventId, last.id);
  assert.equal(cp.lastEventType, last.type);
  assert.deepEqual(cp.lastEventIds, run1.slice(-3).map((e) => e.id), 'every id of the last millisecond');
  assert.equal(cp.lastEventTimestamp, new Date(last.time).toISOString());

  // While stopped: one more in the checkpoint's millisecond, and more after it.
  const whileDown = [...hz.addEvents(1, { joinLast: true }), ...hz.addEvents(150, { sameMs: 4 })];
  assert.equal(whileDown[0].time, last.time);
  const second = await stack.start();
  assert.match(second.stderr(), new RegExp(`resuming after audit event ${last.id} \\(time ${last.time}\\)`));
  const after = hz.addEvents(5);
  await stack.waitDelivered([...whileDown, ...after]);
  await sleep(1500);
  assertExactlyOnce(stack, [...run1, ...whileDown, ...after]);
});

test('kill -9 while events flow, restart on the checkpoint: nothing missing, repeats only after the checkpoint', async (t) => {
  const stack = await startHorizonStack({ checkpoint: true, delivery: ONE_AT_A_TIME });
  stacks.push(stack);
  const { hz } = stack;
  const first = await stack.start();
  await waitFor(() => hz.counters.pages >= 2, { what: 'the first polls' });
  const start = hz.events.length;
  hz.startFeed(80, { sameMs: 3 });
  await waitFor(() => fs.existsSync(stack.checkpointFile()) && stack.readCheckpoint().lastEventTime > 0, { timeout: 10_000, what: 'a first checkpoint' });
  await stack.sink.waitForCount(stack.sink.events.length + 20, 10_000);
  first.proc.kill('SIGKILL');
  await first.exit;
  const cp = stack.readCheckpoint();
  const received = stack.sink.events.length;
  await sleep(1000); // the feed goes on while the router is dead
  await stack.start();
  await sleep(1500);
  await hz.stopFeed();
  const all = hz.events.slice(start);
  await stack.waitDelivered(all);
  await sleep(1500);

  const ids = stack.ids();
  const counts = new Map();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  const missing = all.filter((e) => !counts.has(e.id)).map((e) => e.id);
  assert.deepEqual(missing, [], 'nothing missing after kill -9');
  const byId = new Map(all.map((e) => [e.id, e]));
  const afterCheckpoint = (e) => e.time > cp.lastEventTime || (e.time === cp.lastEventTime && !cp.lastEventIds.includes(e.id));
  const repeated = [...counts].filter(([, n]) => n > 1).map(([id]) => byId.get(id));
  for (const e of repeated) assert.ok(afterCheckpoint(e), `repeat ${e.id} is after the checkpoint`);
  const secondRun = ids.slice(received).map((id) => byId.get(id));
  for (const e of secondRun) assert.ok(afterCheckpoint(e), `the second run starts after the checkpoint (${e.id})`);
  for (let i = 1; i < secondRun.length; i++) {
    const [a, b] = [secondRun[i - 1], secondRun[i]];
    assert.ok(a.time < b.time || (a.time === b.time && a.id < b.id), 'the second run is in (time, id) order');
  }
  t.diagnostic(`${all.length} events, ${received} before the kill, ${repeated.length} repeated (in flight at the kill)`);
});

test('maxReplayAge bounds how far back an old checkpoint resumes', async () => {
  const stack = await startHorizonStack({ checkpoint: true, maxReplayAge: '1h', delivery: ONE_AT_A_TIME });
  stacks.push(stack);
  const { hz } = stack;
  const now = Date.now();
  const [old] = hz.addEvents(1, { time: now - 2 * 3600_000 });
  const tooOld = hz.addEvents(3, { time: now - 90 * 60_000 });
  const recent = hz.addEvents(3, { time: now - 30 * 60_000 });
  fs.mkdirSync(stack.checkpointDir, { recursive: true });
  fs.writeFileSync(stack.checkpointFile(), JSON.stringify({ horizon: '127.0.0.1', lastEventTime: old.time, lastEventIds: [old.id], lastEventId: old.id, lastEventType: old.type }));
  const router = await stack.start();
  const fresh = hz.addEvents(2);
  await stack.waitDelivered([...recent, ...fresh]);
  await sleep(1500);
  assertExactlyOnce(stack, [...recent, ...fresh]);
  assert.ok(!tooOld.some((e) => stack.sink.byId.has(String(e.id))));
  assert.match(router.stderr(), /older than maxReplayAge/);
});

test('a checkpoint that is not one: a clear error naming the file, and a failing exit', async () => {
  const stack = await startHorizonStack({ checkpoint: true });
  stacks.push(stack);
  fs.mkdirSync(stack.checkpointDir, { recursive: true });
  fs.writeFileSync(stack.checkpointFile(), '{"lastEventKey": 5}');
  const router = await stack.start({ wait: false });
  const exit = await router.exit;
  assert.notEqual(exit.code, 0);
  assert.match(router.stderr(), /cp-horizon-127\.0\.0\.1\.json is not a valid Horizon checkpoint \(lastEventTime: missing/);
});

test('SIGTERM while an audit-events call is still running: logs out, exits cleanly', async () => {
  // Regression: the logout ending before the running call was aborted freed the session twice.
  const stack = await startHorizonStack();
  stacks.push(stack);
  const { hz } = stack;
  const router = await stack.start();
  hz.setEventsDelay(5000);
  await waitFor(() => hz.eventsPending > 0, { what: 'an audit-events call in progress' });
  const exit = await router.stop('SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, router.stderr());
  assert.equal(hz.counters.logouts, 1);
});
