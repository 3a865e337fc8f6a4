// Shutdown of the EventBridge processor while its own requests are under way: ListRules every
// second and web identity credentials so short-lived that nearly every call waits for STS first
// (tests/peers/aws_credential_fakes.mjs). The router is stopped at varying moments; a request
// started on the engine's HTTP client after it closed, or a callback into freed state, shows up
// under ASan as an error, and any build must exit 0 with every event delivered or kept.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEventBridgeFake } from '../peers/eventbridge_fake.mjs';
import { ALL_EVENTS_RULE, startCredentialFake, startStack, webIdentityEnv } from './eventbridge_lib.mjs';
import { MORE_SUBJECTS, postEvents, sleep, vcenterEvent } from './lib.mjs';

describe('stopping while credentials and rules are being fetched', () => {
  let credentialFake;
  let fake;
  let env;
  before(async () => {
    credentialFake = await startCredentialFake();
    // Inside the SDKs' five-minute margin from the start: every call asks STS again.
    await fetch(`${credentialFake.url}/__control`, { method: 'POST', body: JSON.stringify({ lifetimeSeconds: 299 }) });
    fake = await startEventBridgeFake({ region: 'us-west-1', keyLookup: credentialFake.issued, rules: [ALL_EVENTS_RULE] });
    env = webIdentityEnv(credentialFake.url);
  });
  after(async () => {
    await fake?.close();
    credentialFake?.kill();
  });

  test('the router stops cleanly at any moment', async () => {
    for (let round = 0; round < 6; round++) {
      const stack = await startStack({ fake, auth: '    auth:\n      type: aws_iam_role', env, extra: '    ruleRefresh: 1s\n' });
      try {
        const events = Array.from({ length: 30 }, (_, i) => vcenterEvent(i, { id: `stop-${round}-${i}`, subject: MORE_SUBJECTS[i % MORE_SUBJECTS.length] }));
        await postEvents(stack.webhookUrl, events);
        await sleep(round * 250);
        const exit = await stack.router.stop('SIGTERM', 20_000);
        assert.equal(exit.code, 0, stack.router.stderr());
        assert.doesNotMatch(stack.router.stderr(), /Sanitizer|runtime error/);
        for (const e of events) {
          const accepted = fake.state.accepted.filter((a) => a.detail.id === e.id).length;
          const kept = stack.router.stderr().includes(`event ${e.id} kept in the disk queue`);
          assert.ok(accepted === 1 || (accepted === 0 && kept), `${e.id}: accepted ${accepted}, kept ${kept}`);
        }
      } finally {
        await stack.cleanup();
      }
    }
    const stats = await credentialFake.stats();
    assert.ok(stats.sts >= 6, `STS asked ${stats.sts} times`);
  });
});
