// EventBridge batching end to end: entries gathered into PutEvents calls of at most
// batch.maxEntries (and 256 KiB), per-entry failures retried alone in later calls, final codes
// dead-lettered with AWS's code, whole calls throttled and retried, rateLimit holding the call
// rate, and every CloudEvent id counted: accepted exactly once or dead-lettered, never both,
// never neither.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startEventBridgeFake } from '../peers/eventbridge_fake.mjs';
import { ALL_EVENTS_RULE, scrape, startStack } from './eventbridge_lib.mjs';
import { MORE_SUBJECTS, postEvents, sleep, vcenterEvent, waitFor } from './lib.mjs';

const KEY = { AKIAEVENTROUTERTEST1: { secret: 'eventbridge/secret+key/0123456789abcdefXYZ' } };

// A deterministic coin per (id, attempt): the same run fails the same entries.
function coin(text) {
  return crypto.createHash('sha256').update(text).digest().readUInt32BE(0) / 2 ** 32;
}

describe('batched PutEvents with per-entry failures', () => {
  let fake;
  let stack;
  const attempts = new Map(); // id -> entries seen
  const wholeCallFailures = [];
  before(async () => {
    fake = await startEventBridgeFake({
      region: 'us-west-1',
      keys: KEY,
      rules: [ALL_EVENTS_RULE],
      injectCall: (operation) => (operation === 'PutEvents' ? wholeCallFailures.shift() ?? null : null),
      injectEntry: (entry, detail) => {
        const n = (attempts.get(detail.id) ?? 0) + 1;
        attempts.set(detail.id, n);
        if (detail.data?.final) return { code: detail.data.final, message: `injected ${detail.data.final}` };
        const r = coin(`${detail.id}/${n}`);
        if (r < 0.2) return { code: 'InternalFailure', message: 'injected InternalFailure' };
        if (r < 0.3) return { code: 'ThrottlingException', message: 'Rate exceeded' };
        return null;
      },
    });
    stack = await startStack({ fake, delivery: { retries: 30 }, extra: '    batch:\n      maxEntries: 10\n      maxDelay: 20ms\n' });
  });
  after(async () => {
    await stack?.cleanup();
    await fake?.close();
  });

  test('20 % InternalFailure + 10 % throttled entries: every event accepted exactly once, in calls of at most 10', async () => {
    const events = Array.from({ length: 600 }, (_, i) => vcenterEvent(i, { id: `batch-${i}`, subject: MORE_SUBJECTS[i % MORE_SUBJECTS.length] }));
    const finals = new Set();
    for (const [i, e] of events.entries())
      if (i % 97 === 5) {
        e.data.final = i % 2 ? 'MalformedDetail' : 'InvalidArgument';
        finals.add(e.id);
      }
    const callsBefore = fake.state.putCalls.length;
    const responses = await postEvents(stack.webhookUrl, events);
    assert.ok(responses.every((r) => r.status === 202));
    const isDone = (e) => fake.state.accepted.some((a) => a.detail.id === e.id) || stack.deadLetters().some((d) => d.event?.id === e.id);
    await waitFor(() => events.every(isDone), { timeout: 60_000, interval: 200, what: 'every event accepted or dead-lettered' });
    await sleep(500);
    const letters = stack.deadLetters();
    for (const e of events) {
      const times = fake.state.accepted.filter((a) => a.detail.id === e.id).length;
      const dead = letters.filter((d) => d.event?.id === e.id);
      if (finals.has(e.id)) {
        assert.equal(times, 0, `${e.id} must not be accepted`);
        assert.equal(dead.length, 1, `${e.id} dead-lettered once`);
        assert.match(dead[0].error, new RegExp(`PutEvents entry refused: ${e.data.final}: injected ${e.data.final}`));
        assert.equal(dead[0].attempts, 1, 'a final code is not retried');
      } else {
        assert.equal(times, 1, `${e.id} accepted once: ${JSON.stringify(dead)}`);
        assert.equal(dead.length, 0, `${e.id} not dead-lettered`);
      }
    }
    const calls = fake.state.putCalls.slice(callsBefore);
    assert.ok(calls.every((c) => c.entries >= 1 && c.entries <= 10));
    const entries = calls.reduce((n, c) => n + c.entries, 0);
    assert.ok(entries / calls.length > 3, `entries per call ${entries / calls.length}: batching happened`);
    assert.ok(calls.some((c) => c.entries === 10), 'some calls are full');
    // Retried entries went again, alone: the fake saw exactly the failures plus one success each.
    const failedEntries = fake.state.entryErrors.length;
    assert.equal(entries, events.length - finals.size + failedEntries);
    const m = await scrape(stack.metricsUrl);
    assert.equal(m.sample('event_router_eventbridge_entries_total', { outcome: 'accepted' }), events.length - finals.size);
    assert.equal(m.sample('event_router_eventbridge_entries_total', { outcome: 'failed' }), finals.size);
    assert.equal(m.sample('event_router_eventbridge_entry_errors_total', { code: 'MalformedDetail' }) + m.sample('event_router_eventbridge_entry_errors_total', { code: 'InvalidArgument' }), finals.size);
    assert.ok(m.sample('event_router_eventbridge_entry_errors_total', { code: 'InternalFailure' }) > 0);
    assert.ok(m.sample('event_router_eventbridge_entry_errors_total', { code: 'ThrottlingException' }) > 0);
    assert.equal(m.sample('event_router_eventbridge_batch_entries_count'), calls.length);
    assert.equal(m.sample('event_router_eventbridge_batch_entries_sum'), entries);
  });

  test('whole calls throttled or failing retry every entry of the call, once accepted each', async () => {
    for (let i = 0; i < 4; i++) wholeCallFailures.push(i % 2 ? { status: 500, code: 'InternalException', message: 'busy' } : { status: 400, code: 'ThrottlingException', message: 'Rate exceeded' });
    const events = Array.from({ length: 30 }, (_, i) => vcenterEvent(i, { id: `whole-${i}`, subject: MORE_SUBJECTS[i % MORE_SUBJECTS.length] }));
    await postEvents(stack.webhookUrl, events);
    await waitFor(() => events.every((e) => fake.state.accepted.some((a) => a.detail.id === e.id)), { timeout: 30_000, what: 'entries accepted' });
    await sleep(300);
    assert.equal(wholeCallFailures.length, 0);
    for (const e of events) assert.equal(fake.state.accepted.filter((a) => a.detail.id === e.id).length, 1, e.id);
    const m = await scrape(stack.metricsUrl);
    assert.ok(m.value('event_router_eventbridge_throttled_calls_total') >= 2);
    assert.ok(m.sample('event_router_eventbridge_calls_total', { outcome: 'retry' }) >= 4);
  });

  test('stops cleanly (under ASan: no leak, no error)', async () => {
    const exit = await stack.router.stop();
    assert.equal(exit.code, 0, stack.router.stderr());
    assert.doesNotMatch(stack.router.stderr(), /Sanitizer|runtime error/);
  });
});

describe('rateLimit', () => {
  let fake;
  let stack;
  before(async () => {
    fake = await startEventBridgeFake({ region: 'us-west-1', keys: KEY, rules: [ALL_EVENTS_RULE] });
    stack = await startStack({ fake, extra: '    rateLimit: 5\n    batch:\n      maxEntries: 2\n      maxDelay: 1ms\n' });
  });
  after(async () => {
    await stack?.cleanup();
    await fake?.close();
  });

  test('holds PutEvents to the configured calls per second', async () => {
    const events = Array.from({ length: 30 }, (_, i) => vcenterEvent(i, { id: `rate-${i}`, subject: MORE_SUBJECTS[i % MORE_SUBJECTS.length] }));
    await postEvents(stack.webhookUrl, events);
    await waitFor(() => events.every((e) => fake.state.accepted.some((a) => a.detail.id === e.id)), { timeout: 30_000, what: 'entries accepted' });
    const calls = fake.state.putCalls;
    assert.ok(calls.every((c) => c.entries <= 2));
    assert.ok(calls.length >= 15);
    // 5 calls/s with a bucket of one: n calls take at least (n - 1) / 5 s.
    const span = (calls[calls.length - 1].at - calls[0].at) / 1000;
    assert.ok(span >= (calls.length - 1) / 5 - 0.3, `${calls.length} calls in ${span} s`);
    for (let i = 0; i + 5 < calls.length; i++) assert.ok(calls[i + 5].at - calls[i].at >= 700, `six calls within ${calls[i + 5].at - calls[i].at} ms`);
    const exit = await stack.router.stop();
    assert.equal(exit.code, 0, stack.router.stderr());
  });
});
