// The command line: version, help, bad flags, check-config's verdicts and error format, clean
// shutdown on signals, secrets kept out of the logs, and JSON logs.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  basicAuth, freePort, makeTmpDir, postEvents, routerConfig, runBinary, startRouter, startSink, toYaml,
  vcenterEvent, writeConfig,
} from './lib.mjs';

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function validConfig(extra = {}) {
  const dir = makeTmpDir();
  cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
  const [webhookPort, metricsPort, sinkPort] = [await freePort(), await freePort(), await freePort()];
  const config = routerConfig({
    webhookPort, metricsPort, sinkUrl: `http://127.0.0.1:${sinkPort}/`, deadLetterDir: path.join(dir, 'dl'), ...extra,
  });
  return { dir, webhookPort, metricsPort, sinkPort, config, file: writeConfig(config, dir) };
}

describe('flags', () => {
  test('--version prints the version', async () => {
    const r = await runBinary(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^event-router \d+\.\d+\.\d+\n$/);
  });

  test('--help prints usage and exits 0', async () => {
    const r = await runBinary(['--help']);
    assert.equal(r.code, 0);
    const text = r.stdout + r.stderr;
    assert.match(text, /usage/i);
    for (const flag of ['config', 'log-level', 'log-json', 'check-config']) assert.ok(text.includes(flag), `help lacks ${flag}`);
  });

  test('an unknown flag prints usage on stderr and exits 2', async () => {
    const r = await runBinary(['--no-such-flag']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /usage/i);
    assert.match(r.stderr, /no-such-flag/);
  });

  test('a missing config file is an error, not a crash', async () => {
    const r = await runBinary(['-config', '/nonexistent/router.yaml']);
    assert.notEqual(r.code, 0);
    assert.equal(r.signal, null);
    assert.match(r.stderr, /nonexistent\/router\.yaml/);
  });
});

describe('check-config', () => {
  test('a valid config: exit 0 and "PATH: OK"', async () => {
    const { file } = await validConfig();
    const r = await runBinary(['check-config', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${file}: OK`);
  });

  test('an invalid config: exit 1, every error as file:line:col: field: message', async () => {
    const { dir, config } = await validConfig();
    const lines = toYaml(config).split('\n');
    // Break two things on known lines: the kind, and the processor type.
    const kindLine = lines.findIndex((l) => l.startsWith('kind:'));
    lines[kindLine] = 'kind: NotARouterConfig';
    const typeLine = lines.findIndex((l, i) => i > lines.findIndex((x) => x.startsWith('eventProcessor:')) && l.trim().startsWith('type:'));
    lines[typeLine] = '  type: no-such-processor';
    const file = writeConfig(lines.join('\n'), dir, 'broken.yaml');

    const r = await runBinary(['check-config', file]);
    assert.equal(r.code, 1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith(`${file}:`));
    assert.ok(errors.length >= 2, `expected both errors, got:\n${r.stderr}`);
    for (const e of errors) assert.match(e, /^.+:\d+:\d+: [\w.[\]]+: .+$/, `bad format: ${e}`);
    const at = (n) => errors.find((e) => e.startsWith(`${file}:${n + 1}:`));
    assert.ok(at(kindLine), `no error on line ${kindLine + 1} (kind):\n${r.stderr}`);
    assert.match(at(kindLine), /kind/);
    assert.ok(at(typeLine), `no error on line ${typeLine + 1} (processor type):\n${r.stderr}`);
    assert.match(at(typeLine), /type/);
  });

  test('YAML syntax errors point at the line', async () => {
    const dir = makeTmpDir();
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const file = writeConfig('apiVersion: event-router.vmware.com/v1alpha1\nkind: RouterConfig\nmetadata: {name: [unclosed\n', dir);
    const r = await runBinary(['check-config', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:[34]:\\d+: `, 'm'));
  });
});

describe('running', () => {
  for (const signal of ['SIGTERM', 'SIGINT']) {
    test(`${signal} exits 0`, async () => {
      const { file, metricsPort } = await validConfig();
      const router = startRouter(file, [], { metricsPort });
      cleanups.push(() => router.stop('SIGKILL'));
      await router.waitReady();
      const { code, signal: killedBy } = await router.stop(signal, 15_000);
      assert.equal(killedBy, null, `killed by ${killedBy}; stderr:\n${router.stderr()}`);
      assert.equal(code, 0, router.stderr());
    });
  }

  test('the webhook password never appears in the logs, even at debug', async () => {
    const password = 'Sup3r-S3cret-Webhook-Pw';
    const sink = await startSink();
    cleanups.push(() => sink.close());
    const { file, metricsPort, webhookPort } = await validConfig({ auth: { username: 'veba', password }, sinkUrl: sink.url });
    const router = startRouter(file, ['-log-level', 'debug'], { metricsPort });
    cleanups.push(() => router.stop('SIGKILL'));
    await router.waitReady();
    const url = `http://127.0.0.1:${webhookPort}/webhook`;
    const good = await postEvents(url, [vcenterEvent(0, { id: 'auth-ok' })], { auth: { user: 'veba', password } });
    assert.equal(good[0].status, 202);
    const bad = await postEvents(url, [vcenterEvent(1)], { auth: { user: 'veba', password: `${password}x` } });
    assert.equal(bad[0].status, 401);
    await sink.waitUntil((s) => s.byId.has('auth-ok'), 10_000, 'the authenticated event');
    const { code } = await router.stop();
    assert.equal(code, 0);
    const log = router.stderr();
    assert.ok(log.length > 0, 'debug logging printed nothing');
    assert.ok(!log.includes(password), 'the password is in the logs');
    for (const secret of [basicAuth('veba', password), basicAuth('veba', `${password}x`)]) {
      assert.ok(!log.includes(secret.slice('Basic '.length)), 'an Authorization header is in the logs');
    }
  });

  test('-log-json prints one JSON object per line', async () => {
    const sink = await startSink();
    cleanups.push(() => sink.close());
    const { file, metricsPort, webhookPort } = await validConfig({ sinkUrl: sink.url });
    const router = startRouter(file, ['--log-json', '--log-level', 'debug'], { metricsPort });
    cleanups.push(() => router.stop('SIGKILL'));
    await router.waitReady();
    await postEvents(`http://127.0.0.1:${webhookPort}/webhook`, [vcenterEvent(0, { id: 'json-log' })]);
    await sink.waitUntil((s) => s.byId.has('json-log'), 10_000, 'the event');
    assert.equal((await router.stop()).code, 0);
    const lines = router.stderr().split('\n').filter((l) => l.trim());
    assert.ok(lines.length > 0, 'no log lines');
    for (const line of lines) {
      let parsed;
      assert.doesNotThrow(() => (parsed = JSON.parse(line)), `not JSON: ${line}`);
      assert.equal(typeof parsed, 'object');
      assert.ok(parsed !== null && !Array.isArray(parsed), `not an object: ${line}`);
    }
  });
});
