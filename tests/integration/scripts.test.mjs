// Lua scripts in the running engine: filter, transform and route to several processors; a hostile
// script is contained and its event dead-lettered; SIGHUP reloads atomically, with exact counts.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  freePort, makeTmpDir, writeConfig, routerConfig, startRouter, startSink, postEvents, vcenterEvent,
  request, readDeadLetters, waitFor, sleep,
} from './lib.mjs';

/** Router with the given scripts (name -> source) and one sink per processor name. */
async function startScripted(scripts, { processors = ['sink'], queue, delivery } = {}) {
  const dir = makeTmpDir();
  const scriptsDir = path.join(dir, 'scripts');
  fs.mkdirSync(scriptsDir);
  for (const [name, source] of Object.entries(scripts)) fs.writeFileSync(path.join(scriptsDir, name), source);
  const sinks = {};
  for (const name of processors) sinks[name] = await startSink({});
  const [webhookPort, metricsPort] = [await freePort(), await freePort()];
  const deadLetterDir = path.join(dir, 'deadletter');
  const config = routerConfig({ webhookPort, metricsPort, sinkUrl: sinks[processors[0]].url, deadLetterDir, queue, delivery });
  delete config.eventProcessor;
  config.eventProcessors = processors.map((name) => ({
    type: 'knative', name, knative: { encoding: 'binary', destination: { uri: sinks[name].url } },
  }));
  config.scripts = { dir: scriptsDir, instructionLimit: 100000 };
  const configPath = writeConfig(config, dir);
  const router = startRouter(configPath, [], { metricsPort });
  await router.waitReady(10_000);
  return {
    router, sinks, scriptsDir, deadLetterDir,
    webhookUrl: `http://127.0.0.1:${webhookPort}/webhook`,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    async cleanup() {
      await router.stop('SIGTERM', 10_000).catch(() => {});
      for (const sink of Object.values(sinks)) await sink.close().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const stacks = [];
after(async () => {
  for (const s of stacks) await s.cleanup();
});

describe('scripts filter, transform and route', () => {
  test('each event is dropped, changed and routed as the scripts say', async () => {
    const stack = await startScripted({
      '10-drop.lua': `function process(event)
        if event.subject == 'UserLoginSessionEvent' then return false end
      end`,
      '20-tag.lua': `function process(event)
        event.extensions.team = 'ops'
        if event.data and event.data.Vm ~= er.json.null then event.data.Seen = true end
      end`,
      '30-route.lua': `function process(event)
        if event.subject == 'VmPoweredOffEvent' then er.route(event, 'audit') end
      end`,
    }, { processors: ['primary', 'audit'] });
    stacks.push(stack);
    const events = [
      vcenterEvent(0, { subject: 'UserLoginSessionEvent', id: 'login' }),
      vcenterEvent(1, { subject: 'VmPoweredOffEvent', id: 'off' }),
      vcenterEvent(2, { subject: 'VmPoweredOnEvent', id: 'on' }),
    ];
    const responses = await postEvents(stack.webhookUrl, events, { concurrency: 1 });
    assert.ok(responses.every((r) => r.status === 202));
    const { primary, audit } = stack.sinks;
    await waitFor(() => primary.byId.has('on') && audit.byId.has('off'), { what: 'routed events' });
    await sleep(300);
    // Unrouted events go to every processor; a routed one only where the script sent it.
    assert.deepEqual([...primary.byId.keys()], ['on']);
    assert.deepEqual([...audit.byId.keys()].sort(), ['off', 'on']);
    const on = primary.byId.get('on');
    assert.equal(on.team, 'ops');
    const data = typeof on.data === 'string' ? JSON.parse(on.data) : on.data;
    assert.equal(data.Seen, true);
    assert.ok(!primary.byId.has('login') && !audit.byId.has('login'), 'the dropped event went nowhere');
  });
});

describe('a hostile script is contained', () => {
  test('a runaway loop dead-letters its event with file:line and the next events flow', async () => {
    const stack = await startScripted({
      '10-loop.lua': `function process(event)
        if event.subject == 'VmReconfiguredEvent' then
          while true do end
        end
      end`,
    });
    stacks.push(stack);
    const events = [
      vcenterEvent(0, { subject: 'VmReconfiguredEvent', id: 'runaway' }),
      vcenterEvent(1, { subject: 'VmPoweredOnEvent', id: 'after' }),
    ];
    await postEvents(stack.webhookUrl, events, { concurrency: 1 });
    const sink = stack.sinks.sink;
    await waitFor(() => sink.byId.has('after'), { what: 'the event after the runaway one' });
    const file = path.join(stack.deadLetterDir, 'scripts.jsonl');
    await waitFor(() => readDeadLetters(file).length === 1, { what: 'the dead-lettered event' });
    const [line] = readDeadLetters(file);
    assert.equal(line.event.id, 'runaway');
    assert.match(line.error, /10-loop\.lua:\d+/);
    assert.ok(!sink.byId.has('runaway'));
  });
});

describe('SIGHUP reload', () => {
  test('100 reloads during a 50,000-event stream deliver exactly 50,000', { timeout: 240_000 }, async () => {
    const version = (v) => `function process(event) event.extensions.scriptversion = '${v}' end`;
    const stack = await startScripted({ '10-version.lua': version('a') }, {
      queue: { capacity: 60000, maxBytes: '1GiB' }, delivery: { maxInFlight: 128 },
    });
    stacks.push(stack);
    const total = 50_000;
    const events = Array.from({ length: total }, (_, i) => vcenterEvent(i, { id: `r-${i}` }));
    const sending = postEvents(stack.webhookUrl, events, { mode: 'batch', batchSize: 100, concurrency: 4 });
    let reloads = 0;
    const scriptFile = path.join(stack.scriptsDir, '10-version.lua');
    const sink = stack.sinks.sink;
    const reloadCount = async () =>
      JSON.parse((await request(`${stack.metricsUrl}/stats`, { method: 'GET' })).body)['vmware.event.router.scripts'].reloads;
    while (reloads < 100) {
      fs.writeFileSync(scriptFile, version(reloads % 2 ? 'a' : 'b'));
      process.kill(stack.router.pid, 'SIGHUP');
      reloads++;
      // Signals sent faster than the loop takes them merge into one: wait for each reload.
      await waitFor(async () => (await reloadCount()) === reloads, { timeout: 10_000, what: `reload ${reloads}` });
      await sleep(20);
    }
    const responses = await sending;
    assert.ok(responses.every((r) => r.status === 202), 'the webhook refused a batch');
    await sink.waitForCount(total, 120_000);
    await sleep(500);
    assert.equal(sink.byId.size, total, 'every event arrived');
    assert.equal(sink.counters.duplicates ?? 0, 0, 'no event arrived twice');
    const versions = new Set([...sink.byId.values()].map((e) => e.scriptversion));
    assert.ok(versions.has('a') && versions.has('b'), `both script versions ran: ${[...versions]}`);
    const stats = JSON.parse((await request(`${stack.metricsUrl}/stats`, { method: 'GET' })).body);
    assert.equal(stats['vmware.event.router.scripts'].reloads, 100);
  });

  test('a broken script on reload keeps the old one and reports file:line', async () => {
    const stack = await startScripted({ '10-ok.lua': `function process(event) event.extensions.v = 'old' end` });
    stacks.push(stack);
    fs.writeFileSync(path.join(stack.scriptsDir, '10-ok.lua'), 'function process(event)\n  this is not lua\nend\n');
    process.kill(stack.router.pid, 'SIGHUP');
    await waitFor(async () => {
      const stats = JSON.parse((await request(`${stack.metricsUrl}/stats`, { method: 'GET' })).body);
      return stats['vmware.event.router.scripts'].reload_failures === 1;
    }, { what: 'the failed reload in /stats' });
    const stats = JSON.parse((await request(`${stack.metricsUrl}/stats`, { method: 'GET' })).body);
    assert.match(stats['vmware.event.router.scripts'].last_reload_error, /10-ok\.lua:2/);
    await postEvents(stack.webhookUrl, [vcenterEvent(0, { id: 'still-old' })]);
    const sink = stack.sinks.sink;
    await waitFor(() => sink.byId.has('still-old'), { what: 'delivery with the old script' });
    assert.equal(sink.byId.get('still-old').v, 'old');
  });
});
