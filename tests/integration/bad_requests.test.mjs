// The webhook's refusals: each error status with its reason, and the router keeps running and
// keeps delivering after every one of them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { basicAuth, encode, postEvents, request, startStack, vcenterEvent, waitFor } from './lib.mjs';

const AUTH = { username: 'veba', password: 'Webhook-Pa55' };

function errorReason(response) {
  let parsed;
  assert.doesNotThrow(() => (parsed = JSON.parse(response.body)), `body is not JSON: ${response.body}`);
  assert.equal(typeof parsed.error, 'string', `no "error" string in ${response.body}`);
  assert.ok(parsed.error.length > 0, 'empty error reason');
  return parsed.error;
}

async function assertStillDelivers(stack, id) {
  const event = vcenterEvent(1, { id });
  const [r] = await postEvents(stack.webhookUrl, [event], { auth: stack.auth });
  assert.equal(r.status, 202, `router stopped taking events: ${r.status} ${r.body}`);
  await stack.sink.waitUntil((s) => s.byId.has(id), 10_000, `event ${id}`);
  assert.equal(stack.router.exited, null, 'router exited');
}

describe('webhook error statuses', () => {
  let stack;
  before(async () => {
    stack = await startStack({ auth: AUTH, maxBodySize: '1KiB' });
    stack.auth = { user: AUTH.username, password: AUTH.password };
  });
  after(async () => {
    await stack?.cleanup();
  });

  const authHeader = () => basicAuth(AUTH.username, AUTH.password);
  const post = (headers, body, url = stack.webhookUrl) =>
    request(url, { headers: { authorization: authHeader(), ...headers }, body });

  test('400 for a binary event without ce-id', async () => {
    const [req] = encode([vcenterEvent(0)], 'binary');
    delete req.headers['ce-id'];
    req.headers['ce-specversion'] = '1.0'; // still looks like a binary CloudEvent
    const r = await post(req.headers, req.body);
    assert.equal(r.status, 400);
    assert.match(errorReason(r), /\bid\b/i);
  });

  // Regression (issue 11): accepted with 202, then refused by the strict JSON encoder on delivery.
  test('400 for an attribute that is not UTF-8, naming the header; opaque text data stays accepted', async () => {
    const [req] = encode([vcenterEvent(0)], 'binary');
    req.headers['ce-subject'] = 'caf%FF';
    const r = await post(req.headers, req.body);
    assert.equal(r.status, 400);
    assert.match(errorReason(r), /header 'ce-subject': the value is not valid UTF-8/);
    const [ok] = encode([vcenterEvent(0, { id: 'latin1-text' })], 'binary');
    const text = await post({ ...ok.headers, 'content-type': 'text/plain; charset=latin1' }, Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    assert.equal(text.status, 202, text.body);
    await stack.sink.waitUntil((s) => s.byId.has('latin1-text'), 10_000, 'the latin1 text event');
    await assertStillDelivers(stack, 'after-utf8');
  });

  test('400 for structured mode with malformed JSON', async () => {
    const r = await post({ 'content-type': 'application/cloudevents+json' }, '{"specversion": "1.0", "id": ');
    assert.equal(r.status, 400);
    assert.match(errorReason(r), /json|pars/i);
  });

  test('400 for an unsupported specversion', async () => {
    const event = { ...vcenterEvent(0), specversion: '0.1' };
    const r = await post({ 'content-type': 'application/cloudevents+json' }, JSON.stringify(event));
    assert.equal(r.status, 400);
    assert.match(errorReason(r), /specversion/i);
  });

  test('400 for a structured event missing source', async () => {
    const event = vcenterEvent(0);
    delete event.source;
    const r = await post({ 'content-type': 'application/cloudevents+json' }, JSON.stringify(event));
    assert.equal(r.status, 400);
    assert.match(errorReason(r), /source/i);
  });

  test('400 for a batch that is not an array', async () => {
    const r = await post({ 'content-type': 'application/cloudevents-batch+json' }, JSON.stringify(vcenterEvent(0)));
    assert.equal(r.status, 400);
    assert.match(errorReason(r), /array|batch/i);
  });

  test('400 for a body that is no CloudEvent at all', async () => {
    const r = await post({ 'content-type': 'text/plain' }, 'hello');
    assert.equal(r.status, 400);
    errorReason(r);
  });

  test('401 without credentials and with a wrong password', async () => {
    const [req] = encode([vcenterEvent(0)], 'binary');
    const missing = await request(stack.webhookUrl, { headers: req.headers, body: req.body });
    assert.equal(missing.status, 401);
    assert.ok(missing.body.length > 0, '401 without a reason');
    const wrong = await request(stack.webhookUrl, {
      headers: { ...req.headers, authorization: basicAuth(AUTH.username, 'not-the-password') },
      body: req.body,
    });
    assert.equal(wrong.status, 401);
    assert.ok(!wrong.body.includes(AUTH.password), 'the reason leaks the password');
  });

  test('404 for another path', async () => {
    const [req] = encode([vcenterEvent(0)], 'binary');
    const r = await post(req.headers, req.body, stack.webhookUrl.replace(/\/webhook$/, '/elsewhere'));
    assert.equal(r.status, 404);
    assert.ok(r.body.length > 0, '404 without a reason');
  });

  test('405 for GET on the webhook path', async () => {
    const r = await request(stack.webhookUrl, { method: 'GET', headers: { authorization: authHeader() } });
    assert.equal(r.status, 405);
    assert.ok(r.body.length > 0, '405 without a reason');
  });

  test('413 for a body over maxBodySize (1KiB)', async () => {
    const event = vcenterEvent(0);
    event.data.FullFormattedMessage = 'x'.repeat(2048);
    const [req] = encode([event], 'structured');
    const r = await post(req.headers, req.body);
    assert.equal(r.status, 413);
    assert.ok(r.body.length > 0, '413 without a reason');
    // Just under the limit is taken.
    const small = encode([vcenterEvent(0)], 'structured')[0];
    assert.ok(Buffer.byteLength(small.body) < 1024);
    assert.equal((await post(small.headers, small.body)).status, 202);
  });

  test('the router still runs and delivers after all of the above', async () => {
    await assertStillDelivers(stack, 'after-errors');
  });
});

describe('webhook under a full queue', () => {
  let stack;
  before(async () => {
    // A sink that answers only after 3 s, one delivery at a time, a queue of 5: it fills at once.
    stack = await startStack({
      sink: { delayMs: 3000 },
      queue: { capacity: 5 },
      delivery: { maxInFlight: 1, timeout: '10s' },
    });
  });
  after(async () => {
    await stack?.cleanup();
  });

  test('503 with Retry-After when the queue is full, then recovers', async () => {
    const events = Array.from({ length: 40 }, (_, i) => vcenterEvent(i, { id: `full-${i}` }));
    const responses = await postEvents(stack.webhookUrl, events, { concurrency: 1 });
    const full = responses.filter((r) => r.status === 503);
    assert.ok(full.length > 0, `no 503 among ${responses.map((r) => r.status).join(',')}`);
    assert.ok(full.length < 40, 'nothing was queued at all');
    for (const r of full) {
      assert.ok(r.headers['retry-after'], '503 without Retry-After');
      const value = r.headers['retry-after'];
      assert.ok(/^\d+$/.test(value) || !Number.isNaN(Date.parse(value)), `bad Retry-After: ${value}`);
    }
    assert.ok(responses.every((r) => r.status === 202 || r.status === 503));

    stack.sink.setDelay(0);
    const accepted = events.filter((_, i) => responses[i].status === 202);
    await stack.sink.waitUntil((s) => accepted.every((e) => s.byId.has(e.id)), 60_000, 'queued events');
    await waitFor(async () => (await postEvents(stack.webhookUrl, [vcenterEvent(0, { id: 'after-full' })]))[0].status === 202,
      { timeout: 10_000, what: 'webhook taking events again' });
    await stack.sink.waitUntil((s) => s.byId.has('after-full'), 10_000, 'event after the queue drained');
  });
});
