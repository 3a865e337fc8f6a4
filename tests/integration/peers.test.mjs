// The test peers themselves, without the router: what send.mjs posts, sink.mjs must decode with
// the SDK intact in every mode; the sink's failure controls must do what the resilience tests
// rely on (refused connections while down, chosen statuses, invalid events caught).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { eventData, postEvents, request, startSink, vcenterEvent } from './lib.mjs';

const sinks = [];
async function sink(options) {
  const s = await startSink(options);
  sinks.push(s);
  return s;
}
after(async () => {
  for (const s of sinks) await s.close();
});

function connect(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (err) => resolve(err.code));
  });
}

for (const mode of ['binary', 'structured', 'batch']) {
  test(`send.mjs -> sink.mjs in ${mode} mode: every event decoded, intact`, async () => {
    const s = await sink();
    const events = Array.from({ length: 120 }, (_, i) => vcenterEvent(i, { extensions: { testrun: mode } }));
    const responses = await postEvents(s.url, events, { mode, batchSize: 25 });
    assert.ok(responses.every((r) => r.status === 202));
    await s.waitForCount(120, 5000);
    assert.deepEqual([...s.modes.keys()], [mode]);
    for (const e of events) {
      const got = s.byId.get(e.id);
      assert.equal(got.subject, e.subject);
      assert.equal(got.testrun, mode);
      assert.deepEqual(eventData(got), e.data);
    }
    assert.equal(s.counters.duplicates, 0);
  });
}

test('the sink refuses what the SDK refuses', async () => {
  const s = await sink();
  const r = await request(s.url, { headers: { 'content-type': 'application/json' }, body: '{"not": "an event"}' });
  assert.equal(r.status, 400);
  assert.equal(s.counters.invalid, 1);
  assert.equal(s.events.length, 0);
});

test('setDown closes the socket (connections refused) and setDown(false) reopens it', async () => {
  const s = await sink();
  const [event] = [vcenterEvent(0, { id: 'before' })];
  assert.equal((await postEvents(s.url, [event]))[0].status, 202); // leaves a keep-alive connection
  await s.setDown(true);
  assert.equal(await connect(s.port), 'ECONNREFUSED');
  await assert.rejects(postEvents(s.url, [vcenterEvent(1)]));
  await s.setDown(false);
  assert.equal((await postEvents(s.url, [vcenterEvent(2, { id: 'after' })]))[0].status, 202);
  assert.ok(s.byId.has('before') && s.byId.has('after'));
});

test('failRate, failStatus with Retry-After, and failFor answer as told', async () => {
  const s = await sink({ failRate: 1, failStatus: 503, retryAfter: 2 });
  const [r] = await postEvents(s.url, [vcenterEvent(0)]);
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '2');
  s.setFailRate(0);
  s.setFailFor((e) => (e.id === 'bad' ? 400 : 0));
  const [bad, good] = await postEvents(s.url, [vcenterEvent(1, { id: 'bad' }), vcenterEvent(2, { id: 'good' })], {
    concurrency: 1,
  });
  assert.equal(bad.status, 400);
  assert.equal(good.status, 202);
  assert.equal(s.attempts.get('bad'), 1);
  assert.ok(!s.byId.has('bad') && s.byId.has('good'));

  s.setFailRate(0.5);
  s.setFailFor(null);
  const many = await postEvents(s.url, Array.from({ length: 400 }, (_, i) => vcenterEvent(i)));
  const failed = many.filter((x) => x.status === 503).length;
  assert.ok(failed > 120 && failed < 280, `failRate 0.5 failed ${failed} of 400`);
});
