// Shutdown of the EventBridge processor while its own requests are under way: ListRules every
// second and web identity credentials so short-lived that nearly every call waits for STS first
// (tests/peers/aws_credential_fakes.mjs). The router is stopped at varying moments; a request
// started on the engine's HTTP client after it closed, or a callback into freed state, shows up
// under ASan as an error, and any build must exit 0 with every event delivered or kept.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { startEventBridgeFake } from '../peers/eventbridge_fake.mjs';
import { ALL_EVENTS_RULE, startStack } from './eventbridge_lib.mjs';
import { makeTmpDir, MORE_SUBJECTS, postEvents, sleep, SOURCE_DIR, vcenterEvent } from './lib.mjs';

describe('stopping while credentials and rules are being fetched', () => {
  let credentialFake;
  let credentialUrl;
  let fake;
  let env;
  before(async () => {
    credentialFake = spawn(process.execPath, [path.join(SOURCE_DIR, 'tests/peers/aws_credential_fakes.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const first = await readline.createInterface({ input: credentialFake.stdout })[Symbol.asyncIterator]().next();
    credentialUrl = `http://127.0.0.1:${first.value.trim()}`;
    // Inside the SDKs' five-minute margin from the start: every call asks STS again.
    await fetch(`${credentialUrl}/__control`, { method: 'POST', body: JSON.stringify({ lifetimeSeconds: 299 }) });
    const issued = async (id) => {
      const stats = await (await fetch(`${credentialUrl}/__stats`)).json();
      const c = stats.issued.find((x) => x.accessKeyId === id);
      return c && { secret: c.secretAccessKey, token: c.sessionToken };
    };
    fake = await startEventBridgeFake({ region: 'us-west-1', keyLookup: issued, rules: [ALL_EVENTS_RULE] });
    const dir = makeTmpDir();
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, 'eyJhbGciOiJSUzI1NiJ9.fake-web-identity-token.sig\n');
    env = {
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
      AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/veba-eventbridge',
      AWS_ENDPOINT_URL_STS: `${credentialUrl}/`,
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'),
      AWS_EC2_METADATA_DISABLED: 'true',
    };
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
    const stats = await (await fetch(`${credentialUrl}/__stats`)).json();
    assert.ok(stats.sts >= 6, `STS asked ${stats.sts} times`);
  });
});
