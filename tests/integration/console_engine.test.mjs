// The console against the real engine, driven through the real client with piped commands: an
// admin sees events with their path through the scripts, tests a script on a live event, replays
// dead-lettered events, pauses a source and reloads the scripts.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  BIN, consoleRun, freePort, makeTmpDir, writeConfig, routerConfig, startRouter, startSink,
  postEvents, vcenterEvent, readDeadLetters, waitFor,
} from './lib.mjs';

describe('console on a running engine', () => {
  let dir, sink, router, socket, webhookUrl, deadLetterDir;
  before(async () => {
    dir = makeTmpDir();
    const scriptsDir = path.join(dir, 'scripts');
    fs.mkdirSync(scriptsDir);
    fs.writeFileSync(path.join(scriptsDir, '10-tag.lua'),
      "function process(event) if event.subject == 'UserLogoutSessionEvent' then return false end event.extensions.tagged = 'yes' end\n");
    sink = await startSink({ failFor: (e) => (e.id.startsWith('reject-') ? 400 : 0) });
    const [webhookPort, metricsPort] = [await freePort(), await freePort()];
    deadLetterDir = path.join(dir, 'deadletter');
    socket = path.join(dir, 'console.sock');
    const config = routerConfig({ webhookPort, metricsPort, sinkUrl: sink.url, deadLetterDir });
    config.scripts = { dir: scriptsDir };
    config.console = { socket };
    router = startRouter(writeConfig(config, dir), [], { metricsPort });
    await router.waitReady(10_000);
    webhookUrl = `http://127.0.0.1:${webhookPort}/webhook`;
    await postEvents(webhookUrl, [
      vcenterEvent(0, { id: 'ok-1', subject: 'VmPoweredOnEvent' }),
      vcenterEvent(1, { id: 'drop-1', subject: 'UserLogoutSessionEvent' }),
      vcenterEvent(2, { id: 'reject-1', subject: 'VmPoweredOffEvent' }),
    ], { concurrency: 1 });
    await waitFor(() => sink.byId.has('ok-1') && readDeadLetters(path.join(deadLetterDir, 'sink.jsonl')).length === 1,
      { what: 'one delivery and one dead letter' });
  });
  after(async () => {
    await router?.stop('SIGTERM', 10_000).catch(() => {});
    await sink?.close().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the socket is private to its owner', () => {
    assert.equal(fs.statSync(socket).mode & 0o777, 0o600);
  });

  test('last and show tell each event\'s path through scripts and processors', async () => {
    const r = await consoleRun(socket, ['last 3', 'show drop-1', 'show reject-1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok-1[\s\S]*10-tag\.lua: changed[\s\S]*delivered sink/);
    assert.match(r.stdout, /drop-1[\s\S]*dropped/);
    assert.match(r.stdout, /reject-1[\s\S]*(dead-?letter)[\s\S]*HTTP 400/i);
  });

  test('pattern tries an EventBridge event pattern on the recent events, without delivering', async () => {
    const before = sink.counters.requests;
    const r = await consoleRun(socket, [
      'pattern {"subject": ["VmPoweredOnEvent", "VmPoweredOffEvent"], "data": {"Vm": {"Name": [{"prefix": "vm-app-"}]}}}',
      'pattern {"subject": [{"prefix": "User"}]} drop-1',
      'pattern {"subject": [{"prefix": 1}]}',
    ]);
    assert.notEqual(r.code, 0, 'the bad pattern fails its command');
    assert.match(r.stdout, /ok-1 VmPoweredOnEvent: match/);
    assert.match(r.stdout, /drop-1 UserLogoutSessionEvent: no match: subject: "UserLogoutSessionEvent" does not match/);
    assert.match(r.stdout, /reject-1 VmPoweredOffEvent: match/);
    assert.match(r.stdout, /2 of 3 recent events match/);
    assert.match(r.stdout, /drop-1 UserLogoutSessionEvent: match/);
    assert.match(r.stdout + r.stderr, /1:25: subject\[0\]\.prefix: prefix match pattern must be a string/);
    assert.equal(sink.counters.requests, before, 'nothing was delivered');
  });

  test('test runs a script on a live event without delivering it', async () => {
    const before = sink.counters.requests;
    const r = await consoleRun(socket, ['test 10-tag.lua ok-1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"verdict":\s*"keep"/);
    assert.match(r.stdout, /"tagged":\s*"yes"/);
    assert.equal(sink.counters.requests, before, 'test delivered nothing');
  });

  test('a dead-lettered event is replayed once the target takes it', async () => {
    sink.setFailFor(() => 0);
    const r = await consoleRun(socket, ['deadletter list', 'deadletter replay sink all']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sink\s+1/);
    await waitFor(() => sink.byId.has('reject-1'), { what: 'the replayed event' });
    await waitFor(() => readDeadLetters(path.join(deadLetterDir, 'sink.jsonl')).length === 0,
      { what: 'the dead-letter line removed after the replay' });
  });

  test('pause and resume a source; reload the scripts', async () => {
    let r = await consoleRun(socket, ['pause hook']);
    assert.equal(r.code, 0, r.stderr);
    const [paused] = await postEvents(webhookUrl, [vcenterEvent(3, { id: 'while-paused' })]);
    assert.equal(paused.status, 503);
    r = await consoleRun(socket, ['resume hook', 'reload', 'scripts']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"reloads":\s*1/);
    const [resumed] = await postEvents(webhookUrl, [vcenterEvent(4, { id: 'after-resume' })]);
    assert.equal(resumed.status, 202);
  });

  test('Lua sees the engine read-only; failures give a non-zero exit status', async () => {
    let r = await consoleRun(socket, ['= #recent > 0', '= config.eventProcessors[1].name']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /true/);
    assert.match(r.stdout, /sink/);
    r = await consoleRun(socket, ['pause no-such-source']);
    assert.notEqual(r.code, 0);
    r = await consoleRun(socket, ['= os.execute("true")']);
    assert.notEqual(r.code, 0, 'the console Lua is sandboxed');
  });

  test('tail streams live events with their path', async () => {
    const child = spawn(BIN, ['console', '--socket', socket], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stdin.write('tail\n');
    await waitFor(() => out.includes('tailing'), { what: 'the tail to start' });
    await postEvents(webhookUrl, [vcenterEvent(5, { id: 'tailed-1' })]);
    await waitFor(() => /tailed-1/.test(out) && /delivered/.test(out), { what: 'the tailed event' });
    child.stdin.end('\n');
    const code = await new Promise((r) => child.on('exit', r));
    assert.equal(code, 0);
  });
});
