// Delivery when the sink misbehaves: transient failures are retried until everything arrives,
// a sink that is down for 30 s loses nothing, permanent 4xx answers go to the dead-letter file
// (once, not retried), and events of one subject keep their order through all the retrying.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  eventData, MORE_SUBJECTS, postEvents, readDeadLetters, sleep, startStack, SUBJECTS, vcenterEvent,
} from './lib.mjs';

function deadLetterFile(stack) {
  return path.join(stack.deadLetterDir, 'sink.jsonl');
}

describe('sink failing 30% of requests with 503', () => {
  let stack;
  before(async () => {
    // 15 retries: the chance that one event fails 16 times in a row at 30% is ~4e-9. Short
    // backoffs and 20 subjects (one ordering lane each) keep the retrying quick.
    stack = await startStack({
      sink: { failRate: 0.3, failStatus: 503 },
      delivery: { retries: 15, backoffInitial: '20ms', backoffMax: '200ms' },
    });
  });
  after(async () => {
    await stack?.cleanup();
  });

  test('all 3,000 events arrive, none dead-lettered', async () => {
    const events = Array.from({ length: 3000 }, (_, i) => vcenterEvent(i, { id: `flaky-${i}`, subject: MORE_SUBJECTS[i % MORE_SUBJECTS.length] }));
    const responses = await postEvents(stack.webhookUrl, events, { concurrency: 16 });
    assert.ok(responses.every((r) => r.status === 202), 'webhook refused events');
    await stack.sink.waitForCount(3000, 90_000);
    assert.ok(stack.sink.counters.failed > 500, `the sink failed only ${stack.sink.counters.failed} requests`);
    assert.ok(events.every((e) => stack.sink.byId.has(e.id)));
    assert.equal(stack.sink.counters.invalid, 0);
    assert.deepEqual(readDeadLetters(deadLetterFile(stack)), []);
  });
});

describe('same-subject ordering under 30% failures', () => {
  let stack;
  before(async () => {
    stack = await startStack({
      sink: { failRate: 0.3, failStatus: 503 },
      delivery: { retries: 15, backoffInitial: '50ms', backoffMax: '300ms' },
    });
  });
  after(async () => {
    await stack?.cleanup();
  });

  test('per subject, sequence numbers arrive increasing', async () => {
    const perSubject = 200;
    const events = [];
    for (let seq = 0; seq < perSubject; seq++) {
      for (const subject of SUBJECTS) events.push(vcenterEvent(events.length, { subject, seq, id: `${subject}-${seq}` }));
    }
    // One request at a time so that the router takes them in exactly this order.
    const responses = await postEvents(stack.webhookUrl, events, { concurrency: 1 });
    assert.ok(responses.every((r) => r.status === 202), 'webhook refused events');
    await stack.sink.waitForCount(events.length, 90_000);
    assert.ok(stack.sink.counters.failed > 100, 'the sink hardly failed: the test proves nothing');
    const seen = new Map(SUBJECTS.map((s) => [s, []]));
    for (const e of stack.sink.events) seen.get(e.subject).push(eventData(e).Seq);
    for (const [subject, seqs] of seen) {
      assert.deepEqual(seqs, Array.from({ length: perSubject }, (_, i) => i), `order of ${subject}`);
    }
  });
});

describe('sink down for 30 s mid-stream', () => {
  let stack;
  before(async () => {
    stack = await startStack({ delivery: { retries: 1000, backoffMax: '1s', connectTimeout: '500ms' } });
  });
  after(async () => {
    await stack?.cleanup();
  });

  test('nothing is lost; everything arrives after the sink comes back', { timeout: 120_000 }, async () => {
    const { sink } = stack;
    const events = Array.from({ length: 1000 }, (_, i) => vcenterEvent(i, { id: `outage-${i}` }));
    // 1,000 events at 100/s; the sink goes down after 2 s and comes back 30 s later.
    const sending = postEvents(stack.webhookUrl, events, { rate: 100, concurrency: 4 });
    await sleep(2000);
    await sink.setDown(true);
    const arrivedBeforeOutage = sink.byId.size;
    await sleep(30_000);
    assert.equal(sink.byId.size, arrivedBeforeOutage, 'events arrived while the sink was down');
    const responses = await sending;
    assert.ok(responses.every((r) => r.status === 202), 'webhook refused events during the outage');
    assert.ok(arrivedBeforeOutage > 0 && arrivedBeforeOutage < 1000, `${arrivedBeforeOutage} arrived before the outage`);
    await sink.setDown(false);
    await sink.waitForCount(1000, 60_000);
    assert.ok(events.every((e) => sink.byId.has(e.id)));
    assert.deepEqual(readDeadLetters(deadLetterFile(stack)), []);
  });
});

describe('sink answering 400 for some events', () => {
  let stack;
  const rejected = new Set(Array.from({ length: 20 }, (_, i) => `reject-${i * 25}`));
  before(async () => {
    stack = await startStack({ sink: { failFor: (e) => (rejected.has(e.id) ? 400 : 0) } });
  });
  after(async () => {
    await stack?.cleanup();
  });

  test('those land in the dead-letter file once, with the error; the rest arrive', async () => {
    const events = Array.from({ length: 500 }, (_, i) =>
      vcenterEvent(i, { id: i % 25 === 0 ? `reject-${i}` : `accept-${i}` }));
    const responses = await postEvents(stack.webhookUrl, events, { concurrency: 8 });
    assert.ok(responses.every((r) => r.status === 202));
    const file = deadLetterFile(stack);
    await stack.sink.waitForCount(480, 30_000);
    let lines = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (lines = readDeadLetters(file)).length < rejected.size) await sleep(100);
    assert.equal(lines.length, rejected.size, `dead-letter file has ${lines.length} lines`);

    const byId = new Map(events.map((e) => [e.id, e]));
    for (const line of lines) {
      assert.equal(line.processor, 'sink');
      assert.equal(line.attempts, 1, `a 400 was retried: ${JSON.stringify(line)}`);
      assert.match(line.error, /400/);
      assert.ok(!Number.isNaN(Date.parse(line.time)), `bad time ${line.time}`);
      const original = byId.get(line.event.id);
      assert.ok(rejected.has(line.event.id), `unexpected dead letter ${line.event.id}`);
      assert.equal(line.event.specversion, '1.0');
      assert.equal(line.event.type, original.type);
      assert.equal(line.event.source, original.source);
      assert.equal(line.event.subject, original.subject);
      assert.deepEqual(line.event.data, original.data);
    }
    assert.deepEqual(new Set(lines.map((l) => l.event.id)), rejected);
    for (const id of rejected) {
      assert.equal(stack.sink.attempts.get(id), 1, `${id} was sent ${stack.sink.attempts.get(id)} times`);
      assert.ok(!stack.sink.byId.has(id));
    }
    assert.ok(events.filter((e) => !rejected.has(e.id)).every((e) => stack.sink.byId.has(e.id)));
  });
});
