// EventBridge rules end to end: the router reads the configured rules with ListRules (the bus,
// Limit 50, every page through NextToken) from the fake endpoint, matches each event locally as
// EventBridge would see the entry, sends the matched ones once and acknowledges the rest as
// filtered; a changed pattern is picked up by the refresh, a failed refresh keeps the last good
// patterns, and a rule missing (or refused) at start holds events until it can be read.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEventBridgeFake } from '../peers/eventbridge_fake.mjs';
import { RULE, scrape, startStack } from './eventbridge_lib.mjs';
import { postEvents, sleep, vcenterEvent, waitFor } from './lib.mjs';

const KEY = { AKIAEVENTROUTERTEST1: { secret: 'eventbridge/secret+key/0123456789abcdefXYZ' } };
const RULE_B = 'arn:aws:events:us-west-1:123456789012:rule/esx-3-events';
const RULE_C = 'arn:aws:events:us-west-1:123456789012:rule/reconfigured-here';
const rule = (arn, pattern) => ({ Name: arn.split('/').pop(), Arn: arn, EventPattern: JSON.stringify(pattern), State: 'ENABLED', EventBusName: 'default' });
// Rules of other teams on the same bus, listed before ours: ours are on the third page.
const fillers = Array.from({ length: 110 }, (_, i) => rule(`arn:aws:events:us-west-1:123456789012:rule/other-${i}`, { source: [`other-${i}`] }));
const extra = `    rules:
      - ${RULE_B}
      - ${RULE_C}
    ruleRefresh: 1s
`;

const accepted = (fake, id) => fake.state.accepted.filter((a) => a.detail.id === id).length;

describe('rules from ListRules, matched locally', () => {
  let fake;
  let stack;
  let failListRules = false;
  before(async () => {
    fake = await startEventBridgeFake({
      region: 'us-west-1',
      keys: KEY,
      rules: [
        ...fillers,
        rule(RULE, { 'detail-type': ['VmPoweredOffEvent'], source: [{ prefix: 'https://' }] }),
        rule(RULE_B, { detail: { data: { Host: { Name: ['esx-3.vcenter.local'] } } } }),
        // account and region come from the rule's ARN, as EventBridge fills them in.
        rule(RULE_C, { account: ['123456789012'], region: ['us-west-1'], 'detail-type': ['VmReconfiguredEvent'] }),
      ],
      injectCall: (operation) => (operation === 'ListRules' && failListRules ? { status: 500, code: 'InternalException', message: 'injected' } : null),
    });
    stack = await startStack({ fake, extra });
  });
  after(async () => {
    await stack?.cleanup();
    await fake?.close();
  });

  test('ListRules is read as the API says: the bus, Limit 50, every page', () => {
    const [first, second, third] = fake.state.listRulesBodies;
    assert.deepEqual(first, { EventBusName: 'default', Limit: 50 });
    assert.equal(second.Limit, 50);
    assert.ok(second.NextToken, 'the second page asks with NextToken');
    assert.ok(third.NextToken && third.NextToken !== second.NextToken);
  });

  test('an event any rule matches is sent once; the others are acknowledged as filtered', async () => {
    const events = Array.from({ length: 60 }, (_, i) => vcenterEvent(i, { id: `rules-${i}` }));
    const matches = (e) => e.subject === 'VmPoweredOffEvent' || e.data.Host.Name === 'esx-3.vcenter.local' || e.subject === 'VmReconfiguredEvent';
    const expected = events.filter(matches);
    assert.ok(expected.length > 10 && expected.length < 50, 'the workload has both kinds');
    const responses = await postEvents(stack.webhookUrl, events);
    assert.ok(responses.every((r) => r.status === 202));
    await waitFor(async () => (await scrape(stack.metricsUrl)).sample('event_router_eventbridge_entries_total', { outcome: 'unmatched' }) === events.length - expected.length && expected.every((e) => accepted(fake, e.id) === 1), { timeout: 20_000, what: 'matched entries and unmatched count' });
    await sleep(300);
    for (const e of events) assert.equal(accepted(fake, e.id), matches(e) ? 1 : 0, `${e.id} (${e.subject}, ${e.data.Host.Name})`);
    // Matching one rule or two makes no difference: each entry once.
    const both = events.find((e) => e.subject === 'VmPoweredOffEvent' && e.data.Host.Name === 'esx-3.vcenter.local');
    if (both) assert.equal(accepted(fake, both.id), 1);
    const stats = await (await fetch(`${stack.metricsUrl}/stats`)).json();
    const processor = stats['vmware.event.router.stats'].aws_event_bridge;
    assert.equal(processor.invocations.VmPoweredOffEvent.SuccessCount, expected.filter((e) => e.subject === 'VmPoweredOffEvent').length);
    assert.equal(processor.filtered, events.length - expected.length, JSON.stringify(stats));
    const m = await scrape(stack.metricsUrl);
    assert.equal(m.value('event_router_eventbridge_rules'), 3);
    assert.ok(m.value('event_router_eventbridge_rules_age_seconds') >= 0);
  });

  test('a pattern changed in AWS is used after the next refresh', async () => {
    fake.state.rules = fake.state.rules.map((r) => (r.Arn === RULE ? rule(RULE, { 'detail-type': ['UserLoginSessionEvent'] }) : r));
    const calls = fake.state.calls.ListRules;
    await waitFor(() => fake.state.calls.ListRules >= calls + 6, { timeout: 10_000, what: 'two refresh passes' });
    const events = Array.from({ length: 20 }, (_, i) => vcenterEvent(i * 4 + 1, { id: `changed-${i}`, subject: i % 2 ? 'UserLoginSessionEvent' : 'VmPoweredOffEvent' }))
      .filter((e) => e.data.Host.Name !== 'esx-3.vcenter.local');
    await postEvents(stack.webhookUrl, events);
    const logins = events.filter((e) => e.subject === 'UserLoginSessionEvent');
    await waitFor(() => logins.every((e) => accepted(fake, e.id) === 1), { timeout: 15_000, what: 'the new pattern' });
    await sleep(300);
    for (const e of events) assert.equal(accepted(fake, e.id), e.subject === 'UserLoginSessionEvent' ? 1 : 0, e.id);
  });

  test('a failed refresh keeps the last good patterns, logged and counted', async () => {
    failListRules = true;
    await waitFor(async () => (await scrape(stack.metricsUrl)).value('event_router_eventbridge_rules_refresh_failures_total') >= 2, { timeout: 10_000, what: 'failed refreshes' });
    assert.match(stack.router.stderr(), /rule refresh failed, keeping the rules read .* ago: ListRules to .*HTTP 500 InternalException: injected/);
    const events = Array.from({ length: 10 }, (_, i) => vcenterEvent(i * 4, { id: `kept-${i}`, subject: i % 2 ? 'UserLoginSessionEvent' : 'VmStartingEvent' }));
    await postEvents(stack.webhookUrl, events);
    const logins = events.filter((e) => e.subject === 'UserLoginSessionEvent');
    await waitFor(() => logins.every((e) => accepted(fake, e.id) === 1), { timeout: 15_000, what: 'the kept pattern' });
    const m = await scrape(stack.metricsUrl);
    assert.equal(m.value('event_router_eventbridge_rules'), 3);
    const ready = await fetch(`${stack.metricsUrl}/readyz`);
    assert.equal(ready.status, 200, 'still ready: the last good rules are in use');
    failListRules = false;
  });

  test('stops cleanly (under ASan: no leak, no error)', async () => {
    const exit = await stack.router.stop();
    assert.equal(exit.code, 0, stack.router.stderr());
    assert.doesNotMatch(stack.router.stderr(), /Sanitizer|runtime error/);
  });
});

describe('a rule not on the bus at start', () => {
  let fake;
  let stack;
  before(async () => {
    fake = await startEventBridgeFake({ region: 'us-west-1', keys: KEY, rules: [...fillers, rule(RULE, { source: [{ prefix: '' }] }), rule(RULE_C, { source: [{ prefix: '' }] })] });
    stack = await startStack({ fake, extra, waitReady: false });
  });
  after(async () => {
    await stack?.cleanup();
    await fake?.close();
  });

  test('holds events (not ready) until it exists and its pattern compiles, then sends each once', async () => {
    await waitFor(() => stack.router.stderr().includes(`rule ${RULE_B}: not on the bus (ListRules does not list it)`), { timeout: 10_000, what: 'the missing rule named' });
    assert.equal((await fetch(`${stack.metricsUrl}/readyz`)).status, 503);
    const events = Array.from({ length: 12 }, (_, i) => vcenterEvent(i, { id: `held-${i}`, subject: `HeldEvent${i}` }));
    await postEvents(stack.webhookUrl, events);
    await waitFor(async () => (await scrape(stack.metricsUrl)).value('event_router_eventbridge_held_events') === events.length, { timeout: 10_000, what: 'held events' });
    assert.equal(fake.state.calls.PutEvents, 0);

    // Created, but with a pattern longer than EventBridge's 2048 characters: refused by name.
    const long = { source: Array.from({ length: 200 }, (_, i) => `source-number-${i}`) };
    fake.state.rules.push(rule(RULE_B, long));
    await waitFor(() => new RegExp(`rule ${RULE_B}: EventPattern refused: Event pattern is \\d+ characters long; at most 2048 are allowed`).test(stack.router.stderr()), { timeout: 15_000, what: 'the long pattern refused' });
    assert.equal((await fetch(`${stack.metricsUrl}/readyz`)).status, 503);

    fake.state.rules = fake.state.rules.map((r) => (r.Arn === RULE_B ? rule(RULE_B, { source: ['nothing-matches-this'] }) : r));
    await waitFor(async () => (await fetch(`${stack.metricsUrl}/readyz`)).status === 200, { timeout: 40_000, what: 'ready once the rules read' });
    await waitFor(() => events.every((e) => accepted(fake, e.id) === 1), { timeout: 10_000, what: 'held events sent' });
    await sleep(300);
    for (const e of events) assert.equal(accepted(fake, e.id), 1);
    assert.deepEqual(stack.deadLetters(), []);
    const exit = await stack.router.stop();
    assert.equal(exit.code, 0, stack.router.stderr());
    assert.doesNotMatch(stack.router.stderr(), /Sanitizer|runtime error/);
  });
});

describe('resources', () => {
  let fake;
  let stack;
  const INSTANCE = 'arn:aws:ec2:us-west-1:123456789012:instance/i-0abc';
  before(async () => {
    fake = await startEventBridgeFake({ region: 'us-west-1', keys: KEY, rules: [rule(RULE, { resources: [INSTANCE], 'detail-type': ['VmPoweredOnEvent'] })] });
    stack = await startStack({ fake, extra: `    resources:\n      - ${INSTANCE}\n      - arn:vmware:vcenter::vc01:datacenter/dc-2\n` });
  });
  after(async () => {
    await stack?.cleanup();
    await fake?.close();
  });

  test('every entry carries the configured Resources, and rules match on them', async () => {
    const events = Array.from({ length: 10 }, (_, i) => vcenterEvent(i, { id: `res-${i}` }));
    await postEvents(stack.webhookUrl, events);
    const on = events.filter((e) => e.subject === 'VmPoweredOnEvent');
    await waitFor(() => on.every((e) => accepted(fake, e.id) === 1), { timeout: 15_000, what: 'entries with Resources' });
    await sleep(300);
    assert.equal(fake.state.accepted.length, on.length);
    for (const a of fake.state.accepted) assert.deepEqual(a.entry.Resources, [INSTANCE, 'arn:vmware:vcenter::vc01:datacenter/dc-2']);
    const exit = await stack.router.stop();
    assert.equal(exit.code, 0, stack.router.stderr());
  });
});
