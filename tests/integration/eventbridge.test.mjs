// The EventBridge processor end to end: the real binary, a webhook taking CloudEvents, and a fake
// EventBridge endpoint (tests/peers/eventbridge_fake.mjs) that checks every signature with AWS's
// own JavaScript signer and validates PutEvents as documented. Covers VEBA's config unchanged
// (plus the endpoint extension), the entry VEBA builds, per-entry InternalFailure and
// ThrottlingException retried until accepted exactly once, MalformedDetail and oversize events
// dead-lettered with the reason, a wrong secret named by key id and never printed, and
// aws_iam_role credentials from web identity (STS fake in tests/peers/aws_credential_fakes.mjs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEventBridgeFake } from '../peers/eventbridge_fake.mjs';
import { ALL_EVENTS_RULE, KEY_ID, SECRET, startCredentialFake, startStack, staticAuth, webIdentityEnv } from './eventbridge_lib.mjs';
import { metricValue, parsePrometheus, postEvents, runBinary, vcenterEvent, waitFor } from './lib.mjs';

describe('VEBA config, static keys, per-entry answers', () => {
  let fake;
  let stack;
  const failuresLeft = new Map(); // CloudEvent id -> injected failures still to give
  const callFailures = []; // whole-call answers to give to the next PutEvents calls
  before(async () => {
    fake = await startEventBridgeFake({
      region: 'us-west-1',
      keys: { [KEY_ID]: { secret: SECRET } },
      rules: [ALL_EVENTS_RULE],
      injectCall: (operation) => (operation === 'PutEvents' ? callFailures.shift() ?? null : null),
      injectEntry: (entry, detail) => {
        const plan = detail.data?.inject;
        if (!plan) return null;
        const left = failuresLeft.get(detail.id) ?? plan.times;
        if (left <= 0) return null;
        failuresLeft.set(detail.id, left - 1);
        return { code: plan.code, message: `injected ${plan.code}` };
      },
    });
    stack = await startStack({ fake });
  });
  after(async () => {
    await stack?.cleanup();
    await fake?.close();
  });

  test('check-config accepts the VEBA config', async () => {
    const r = await runBinary(['check-config', stack.configPath]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('each event arrives as VEBA builds the entry, signed', async () => {
    const events = Array.from({ length: 40 }, (_, i) => vcenterEvent(i, { id: `plain-${i}` }));
    const webhookOnly = { specversion: '1.0', id: 'no-subject-1', source: 'webhook-client', type: 'com.example.created', time: '2024-05-01T10:00:00.5Z', datacontenttype: 'application/json', data: { x: 1 } };
    const responses = await postEvents(stack.webhookUrl, [...events, webhookOnly]);
    assert.ok(responses.every((r) => r.status === 202));
    await waitFor(() => fake.state.accepted.length >= 41, { timeout: 30_000, what: '41 entries' });
    const byId = new Map(fake.state.accepted.map((a) => [a.detail.id, a]));
    for (const e of events) {
      const got = byId.get(e.id);
      assert.ok(got, `entry for ${e.id}`);
      assert.equal(got.entry.Source, e.source);
      assert.equal(got.entry.DetailType, e.subject);
      assert.equal(got.entry.EventBusName, 'default');
      assert.equal(got.entry.Time, Date.parse(e.time) / 1000);
      assert.equal(got.keyId, KEY_ID);
      // Detail is the whole CloudEvent in structured JSON.
      assert.equal(got.detail.specversion, '1.0');
      assert.equal(got.detail.type, e.type);
      assert.equal(got.detail.subject, e.subject);
      assert.deepEqual(got.detail.data, e.data);
    }
    const plain = byId.get('no-subject-1');
    assert.equal(plain.entry.DetailType, 'com.example.created', 'no subject: DetailType is the type');
    assert.equal(plain.entry.Time, 1714557600.5);
    assert.deepEqual(fake.state.refused, []);
  });

  test('InternalFailure and ThrottlingException entries are retried until accepted once', async () => {
    const events = [];
    for (let i = 0; i < 20; i++) {
      const e = vcenterEvent(100 + i, { id: `flaky-${i}` });
      e.data.inject = { code: i % 2 ? 'InternalFailure' : 'ThrottlingException', times: 1 + (i % 3) };
      events.push(e);
    }
    const before = fake.state.entryErrors.length;
    await postEvents(stack.webhookUrl, events);
    await waitFor(() => events.every((e) => fake.state.accepted.some((a) => a.detail.id === e.id)), { timeout: 30_000, what: 'flaky entries accepted' });
    for (const e of events) assert.equal(fake.state.accepted.filter((a) => a.detail.id === e.id).length, 1, `${e.id} accepted once`);
    assert.equal(fake.state.entryErrors.length - before, events.reduce((n, e) => n + e.data.inject.times, 0));
    assert.deepEqual(stack.deadLetters(), []);
  });

  test('whole calls throttled (400 ThrottlingException) or failing (503) are retried', async () => {
    for (let i = 0; i < 6; i++)
      callFailures.push(i % 2 ? { status: 503, code: 'ServiceUnavailable', message: 'busy' } : { status: 400, code: 'ThrottlingException', message: 'Rate exceeded' });
    const events = Array.from({ length: 3 }, (_, i) => vcenterEvent(400 + i, { id: `throttled-${i}` }));
    await postEvents(stack.webhookUrl, events);
    await waitFor(() => events.every((e) => fake.state.accepted.some((a) => a.detail.id === e.id)), { timeout: 30_000, what: 'throttled entries accepted' });
    assert.equal(callFailures.length, 0, 'every injected failure was met');
    for (const e of events) assert.equal(fake.state.accepted.filter((a) => a.detail.id === e.id).length, 1);
    assert.deepEqual(stack.deadLetters(), []);
  });

  test('a final per-entry code is dead-lettered with the code, not retried', async () => {
    const e = vcenterEvent(200, { id: 'malformed-1' });
    e.data.inject = { code: 'MalformedDetail', times: 1 };
    const calls = fake.state.calls.PutEvents;
    await postEvents(stack.webhookUrl, [e]);
    await waitFor(() => stack.deadLetters().some((d) => d.event?.id === 'malformed-1'), { timeout: 15_000, what: 'dead letter' });
    const letter = stack.deadLetters().find((d) => d.event?.id === 'malformed-1');
    assert.match(letter.error, /PutEvents entry refused: MalformedDetail: injected MalformedDetail/);
    assert.equal(letter.attempts, 1);
    assert.equal(fake.state.calls.PutEvents, calls + 1);
    assert.ok(!fake.state.accepted.some((a) => a.detail.id === 'malformed-1'));
  });

  test('an event larger than one PutEvents call is dead-lettered at once', async () => {
    const e = vcenterEvent(300, { id: 'oversize-1' });
    e.data.blob = 'x'.repeat(300 * 1024);
    const calls = fake.state.calls.PutEvents;
    const responses = await postEvents(stack.webhookUrl, [e]);
    assert.equal(responses[0].status, 202);
    await waitFor(() => stack.deadLetters().some((d) => d.event?.id === 'oversize-1'), { timeout: 15_000, what: 'dead letter' });
    const letter = stack.deadLetters().find((d) => d.event?.id === 'oversize-1');
    assert.match(letter.error, /more than PutEvents takes in one call \(262144\)/);
    assert.equal(fake.state.calls.PutEvents, calls, 'no call was made');
  });

  test('stops cleanly (under ASan: no leak, no error)', async () => {
    const exit = await stack.router.stop();
    assert.equal(exit.code, 0, stack.router.stderr());
    assert.doesNotMatch(stack.router.stderr(), /Sanitizer|runtime error/);
  });
});

describe('a wrong secret', () => {
  let fake;
  let stack;
  const wrong = 'this-is-not-the-secret-0123456789';
  before(async () => {
    fake = await startEventBridgeFake({ region: 'us-west-1', keys: { [KEY_ID]: { secret: SECRET } }, rules: [ALL_EVENTS_RULE] });
    stack = await startStack({ fake, auth: staticAuth(wrong), waitReady: false });
  });
  after(async () => {
    await stack?.cleanup();
    await fake?.close();
  });

  test('is refused, named by key id, and never printed; events are held, not lost', async () => {
    // ListRules is the first call: it fails, so the router is not ready and holds what arrives.
    await postEvents(stack.webhookUrl, [vcenterEvent(1, { id: 'signed-wrong' })]);
    await waitFor(() => /ListRules to .*HTTP 403 InvalidSignatureException: The request signature we calculated does not match/.test(stack.router.stderr()), { timeout: 15_000, what: 'the refusal in the log' });
    assert.match(stack.router.stderr(), new RegExp(`key id ${KEY_ID}`));
    await waitFor(async () => metricValue(parsePrometheus(await (await fetch(`${stack.metricsUrl}/metrics`)).text()), 'event_router_eventbridge_held_events') === 1, { timeout: 10_000, what: 'one held event' });
    const ready = await fetch(`${stack.metricsUrl}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(fake.state.calls.PutEvents, 0);
    assert.deepEqual(stack.deadLetters(), []);
    // Shutdown past its deadline leaves the held event in the disk queue for the next start.
    const exit = await stack.router.stop('SIGTERM', 20_000);
    assert.equal(exit.code, 0, stack.router.stderr());
    assert.match(stack.router.stderr(), /event signed-wrong kept in the disk queue for the next start/);
    const letters = stack.deadLetters();
    const everything = stack.router.stderr() + stack.router.stdout() + JSON.stringify(letters);
    assert.ok(!everything.includes(wrong), 'the secret leaked');
  });
});

describe('aws_iam_role with web identity (STS fake)', () => {
  let credentialFake;
  let fake;
  let stack;
  before(async () => {
    credentialFake = await startCredentialFake();
    fake = await startEventBridgeFake({ region: 'us-west-1', keyLookup: credentialFake.issued, rules: [ALL_EVENTS_RULE] });
    stack = await startStack({ fake, auth: '    auth:\n      type: aws_iam_role', env: webIdentityEnv(credentialFake.url) });
  });
  after(async () => {
    await stack?.cleanup();
    await fake?.close();
    credentialFake?.kill();
  });

  test('events are signed with the role session credentials STS issued', async () => {
    const events = Array.from({ length: 5 }, (_, i) => vcenterEvent(i, { id: `role-${i}` }));
    await postEvents(stack.webhookUrl, events);
    await waitFor(() => fake.state.accepted.length >= 5, { timeout: 20_000, what: '5 entries' });
    assert.ok(fake.state.accepted.every((a) => a.keyId.startsWith('ASIASTS')), JSON.stringify(fake.state.accepted.map((a) => a.keyId)));
    assert.deepEqual(fake.state.refused, []);
    const stats = await credentialFake.stats();
    assert.ok(stats.sts >= 1);
    const exit = await stack.router.stop();
    assert.equal(exit.code, 0, stack.router.stderr());
    assert.doesNotMatch(stack.router.stderr(), /Sanitizer|runtime error/);
    for (const c of stats.issued) {
      assert.ok(!stack.router.stderr().includes(c.secretAccessKey));
      assert.ok(!stack.router.stderr().includes(c.sessionToken));
    }
  });
});
