// The Horizon source against the fake Horizon server (tests/peers/horizon.mjs): VEBA's shipped
// example config, the CloudEvent format, paging, equal timestamps, events between polls, token
// expiry mid-stream and refused credentials.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { consoleRun, makeTmpDir, parsePrometheus, request, runBinary, SOURCE_DIR, sleep, waitFor } from './lib.mjs';
import { assertExactlyOnce, byTimeAndId, DOMAIN, eventData, PASSWORD, startHorizonStack, USERNAME } from './horizon_lib.mjs';

const stacks = [];
after(async () => {
  for (const s of stacks) await s.cleanup();
});

const VEBA_EXAMPLE = path.join(SOURCE_DIR, 'tests', 'configs', 'veba-horizon-knative.yaml');
// One delivery at a time, so arrival order at the sink is the order the source pushed.
const ONE_AT_A_TIME = { maxInFlight: 1 };

test('check-config accepts VEBA\'s Horizon example unchanged', async () => {
  const r = await runBinary(['check-config', VEBA_EXAMPLE]);
  assert.equal(r.code, 0, r.stderr);
});

test('VEBA\'s example runs against the fake: newest 10 first (as VEBA), VEBA\'s CloudEvent plus subject, logout on SIGTERM', async () => {
  // The fake knows VEBA's example user, so the file's credentials log in as they are.
  const stack = await startHorizonStack({ horizon: { users: [{ domain: 'corp', username: 'administrator', password: 'ReplaceMe' }] } });
  stacks.push(stack);
  const { hz, sink } = stack;
  // VEBA's file with only what cannot work here replaced: the address, the Kubernetes broker
  // (no cluster) and the metrics port.
  const example = fs.readFileSync(VEBA_EXAMPLE, 'utf8');
  hz.addEvents(12);
  const seeded = hz.addEvents(3, { sameMs: 3 }); // three in the newest millisecond
  const router = await stack.start({
    configText: (metricsPort) =>
      example
        .replace('https://api.myhorizon.corp.local', hz.url)
        .replace(/destination:\n\s+ref:\n(\s+\w+: .*\n){4}/, `destination:\n      uri: ${sink.url}\n`)
        .replace('"0.0.0.0:8082"', `"127.0.0.1:${metricsPort}"`) + `deadLetter:\n  dir: ${path.join(stack.dir, 'deadletter')}\n`,
  });
  const newest10 = [...hz.events].sort(byTimeAndId).slice(-10);
  await stack.waitDelivered(newest10);
  assert.ok(newest10.some((e) => e.id === seeded[0].id));

  // Events arriving later in the millisecond already read, and after it.
  const late = hz.addEvents(2, { joinLast: true, sameMs: 2 });
  assert.equal(late[0].time, seeded[2].time, 'the fake put them in the same millisecond');
  const more = hz.addEvents(5);
  await stack.waitDelivered([...late, ...more]);
  await sleep(1500); // one more poll: nothing repeats
  assertExactlyOnce(stack, [...newest10, ...late, ...more], { ordered: false }); // 64 in flight

  // VEBA's format, field by field, plus subject.
  const h = late[1];
  const e = sink.byId.get(String(h.id));
  assert.equal(e.specversion, '1.0');
  assert.equal(e.type, `com.vmware.event.router/horizon.${h.type.toLowerCase()}.v0`);
  assert.equal(e.subject, h.type);
  assert.equal(e.source, hz.url);
  assert.equal(e.time, new Date(h.time).toISOString());
  assert.equal(e.datacontenttype, 'application/json');
  assert.deepEqual(eventData(e), h);

  // /stats (VEBA's key "horizon"), /metrics and /readyz.
  const stats = JSON.parse((await request(`${router.metricsUrl}/stats`, { method: 'GET' })).body);
  assert.equal(stats['vmware.event.router.stats'].horizon.type, 'EventProvider');
  assert.equal(stats['vmware.event.router.stats'].horizon.address, hz.url);
  assert.equal(stats['vmware.event.router.stats'].horizon.events_total, 17);
  const metrics = parsePrometheus((await request(`${router.metricsUrl}/metrics`, { method: 'GET' })).body);
  const taken = metrics.samples.find((s) => s.name === 'event_router_provider_events_total' && s.labels.provider === 'veba-demo-horizon');
  assert.equal(taken?.value, 17);
  assert.equal((await request(`${router.metricsUrl}/readyz`, { method: 'GET' })).status, 200);

  // Paging: the Between filter asks page 1, 2, ... of 100 each; the password is never logged.
  const pages = hz.requests.filter((r) => r.path === '/rest/external/v1/audit-events');
  assert.deepEqual(pages[0].query, { size: '10', page: '1' }, 'the first call asks for the newest 10, as VEBA');
  const filter = JSON.parse(pages[1].query.filter);
  assert.equal(filter.type, 'Between');
  assert.equal(filter.name, 'time');
  assert.equal(filter.fromValue, seeded[2].time, 'from the newest delivered millisecond');
  assert.ok(filter.toValue > Date.now(), 'to a time ahead');

  const exit = await router.stop('SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, router.stderr());
  assert.equal(hz.counters.logouts, 1, 'logged out on shutdown');
  assert.ok(!router.stderr().includes('ReplaceMe'), 'the password is never logged');
});

test('a stream with many events per millisecond and more than a page per poll: each once, in (time, id) order', async (t) => {
  const stack = await startHorizonStack({ delivery: ONE_AT_A_TIME });
  stacks.push(stack);
  const { hz } = stack;
  await stack.start();
  await waitFor(() => hz.counters.pages >= 2, { what: 'the first polls' });
  const expected = [];
  // Bursts bigger than a page (100) at once, with up to 7 events in one millisecond.
  expected.push(...hz.addEvents(350, { sameMs: 7 }));
  hz.startFeed(300, { sameMs: 3 });
  await sleep(3000);
  expected.push(...hz.addEvents(250, { sameMs: 5 }));
  await sleep(1500);
  await hz.stopFeed();
  const all = hz.events.filter((e) => e.time >= expected[0].time);
  await stack.waitDelivered(all, 30_000);
  await sleep(1500);
  assertExactlyOnce(stack, all);
  const deepest = Math.max(...hz.requests.filter((r) => r.query.page).map((r) => Number(r.query.page)));
  t.diagnostic(`${all.length} events, ${hz.counters.pages} pages asked, deepest page ${deepest}`);
  assert.ok(deepest >= 4, 'paged through more than one page of 100');
});

test('tokens expire mid-stream: refresh before expiry, refresh on 401, full login once the refresh token expired', async (t) => {
  // Access tokens of 2 s, refresh tokens of 5 s: the stream outlives both several times.
  const stack = await startHorizonStack({ horizon: { accessTtlMs: 2000, refreshTtlMs: 5000 } });
  stacks.push(stack);
  const { hz } = stack;
  await stack.start();
  await waitFor(() => hz.counters.pages >= 2, { what: 'the first polls' });
  const first = hz.events.length;
  hz.startFeed(40);
  await sleep(4000);
  hz.expireAccessTokens(); // a 401 now: refresh and retry
  await sleep(3000);
  hz.expireAllTokens(); // a 401 whose refresh is refused: full login
  await sleep(3000);
  await hz.stopFeed();
  const all = hz.events.slice(first);
  await stack.waitDelivered(all);
  await sleep(1500);
  assertExactlyOnce(stack, all, { ordered: false });
  t.diagnostic(`${all.length} events; ${JSON.stringify(hz.counters)}`);
  assert.ok(hz.counters.refreshes >= 3, 'refreshed the access token');
  assert.ok(hz.counters.logins >= 3, 'logged in again after the refresh token expired');
  assert.ok(hz.counters.refreshesRefused >= 1, 'a refused refresh led to a full login');
  assert.ok(!stack.router.stderr().includes(PASSWORD));
});

test('wrong password: a clear error naming the user, never the password, and a failing exit', async () => {
  const stack = await startHorizonStack();
  stacks.push(stack);
  const wrong = 'Wr0ng-pass-never-logged';
  const router = await stack.start({ wait: false, password: wrong });
  const exit = await router.exit;
  assert.notEqual(exit.code, 0);
  const stderr = router.stderr();
  assert.match(stderr, new RegExp(String.raw`login as ${DOMAIN}\\{1,2}${USERNAME} refused \(HTTP 401\)`), stderr);
  assert.ok(!stderr.includes(wrong), 'the wrong password is not in the log');
  assert.equal(stack.hz.counters.loginsRefused, 1, 'one attempt only: retrying would lock the account');
});

test('eventFormat: sources-for-knative names types com.vmware.horizon.<type>.v0', async () => {
  const stack = await startHorizonStack({ eventFormat: 'sources-for-knative' });
  stacks.push(stack);
  const { hz, sink } = stack;
  await stack.start();
  await waitFor(() => hz.counters.pages >= 2, { what: 'the first polls' });
  const [h] = hz.addEvents(1, { type: 'VLSI_USERLOGGEDIN' });
  await stack.waitDelivered([h]);
  const e = sink.byId.get(String(h.id));
  assert.equal(e.type, 'com.vmware.horizon.vlsi_userloggedin.v0');
  assert.equal(e.subject, 'VLSI_USERLOGGEDIN');
});

test('console: sources and config show the Horizon source (never its password); pause keeps events in Horizon', async () => {
  const stack = await startHorizonStack();
  stacks.push(stack);
  const { hz, sink } = stack;
  const socket = path.join(stack.dir, 'console.sock');
  await stack.start({ configure: (config) => (config.console = { socket }) });
  await waitFor(() => hz.counters.pages >= 2, { what: 'the first polls' });
  let r = await consoleRun(socket, ['sources', 'config']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /hz[\s\S]*horizon[\s\S]*running/);
  assert.match(r.stdout, new RegExp(`"address":\\s*"${hz.url}"`));
  assert.match(r.stdout, /"username":\s*"administrator"/);
  assert.ok(!r.stdout.includes(PASSWORD), 'no password in the console');

  r = await consoleRun(socket, ['pause hz']);
  assert.equal(r.code, 0, r.stderr);
  await sleep(1500); // a poll running at the pause finishes
  const before = sink.events.length;
  const held = hz.addEvents(3);
  await sleep(2500);
  assert.equal(sink.events.length, before, 'nothing taken in while paused');
  r = await consoleRun(socket, ['resume hz']);
  assert.equal(r.code, 0, r.stderr);
  await stack.waitDelivered(held);
});

test('HTTPS: caFile trusts Horizon\'s certificate; without it the login fails on the certificate and is retried; insecureSSL skips the check', async () => {
  // A self-signed certificate for 127.0.0.1 (openssl from tools/setup.sh).
  const certDir = makeTmpDir('event-router-horizon-tls-');
  const [key, cert] = [path.join(certDir, 'key.pem'), path.join(certDir, 'cert.pem')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const stack = await startHorizonStack({ horizon: { tls: { key: fs.readFileSync(key), cert: fs.readFileSync(cert) } } });
  stacks.push(stack);
  const { hz } = stack;
  assert.ok(hz.url.startsWith('https://'));

  let router = await stack.start({ configure: (c) => (c.eventProvider.horizon.caFile = cert) });
  const [trusted] = hz.addEvents(1);
  await stack.waitDelivered([trusted]);
  await router.stop('SIGTERM');

  router = await stack.start({ wait: false });
  await waitFor(() => /login: .*(certificate|SSL)/i.test(router.stderr()), { what: 'a certificate error' });
  assert.equal((await request(`${router.metricsUrl}/readyz`, { method: 'GET' })).status, 503);
  assert.equal(router.exited, null, 'not fatal: a certificate can be fixed under a running router');
  await router.stop('SIGTERM');

  router = await stack.start({ configure: (c) => (c.eventProvider.horizon.insecureSSL = true) });
  const [insecure] = hz.addEvents(1);
  await stack.waitDelivered([insecure]);
});
