// OpenFaaS with the disk queue at the shutdown deadline: one function has delivered the event,
// the other's attempt still hangs. The event is kept (not dead-lettered), the router exits 0 in
// time, and the next start delivers it again. What the code implements (processors/openfaas.c,
// on_function_done: "a kept function keeps the whole event"): the whole event is delivered again,
// so every matched function is invoked again, the one that had succeeded included (at least
// once); after that it is finished and a third start invokes nothing. Every invocation per
// function is counted.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startOpenFaasGateway } from '../peers/openfaas_gateway.mjs';
import {
  freePort, makeTmpDir, metricsProviderYaml, postEvents, readDeadLetters, sleep, startRouter, vcenterEvent, waitFor, webhookProviderYaml, writeConfig,
} from './lib.mjs';

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

function config({ webhookPort, metricsPort, dir, address }) {
  return `apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: openfaas-keep
${webhookProviderYaml(webhookPort)}
eventProcessor:
  type: openfaas
  name: faas
  openfaas:
    address: ${address}
    async: false
${metricsProviderYaml(metricsPort)}
deadLetter:
  dir: ${path.join(dir, 'deadletter')}
queue:
  type: disk
  dir: ${path.join(dir, 'queue')}
delivery:
  timeout: 60s
  connectTimeout: 1s
  retries: 3
  backoffInitial: 10ms
  backoffMax: 100ms
`;
}

test('a function still in flight at the shutdown deadline: kept on disk, delivered again at the next start', { timeout: 120_000 }, async () => {
  const functions = [
    { name: 'fast', annotations: { topic: 'VmPoweredOnEvent' } },
    { name: 'hangs', annotations: { topic: 'VmPoweredOnEvent' }, delayMs: 15_000 },
  ];
  const gw = await startOpenFaasGateway({ functions });
  cleanups.push(() => gw.close());
  const dir = makeTmpDir();
  cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
  const [webhookPort, metricsPort] = [await freePort(), await freePort()];
  const configPath = writeConfig(config({ webhookPort, metricsPort, dir, address: gw.url }), dir);
  const webhookUrl = `http://127.0.0.1:${webhookPort}/webhook`;
  const invocations = (fn) => gw.state.invocations.filter((r) => r.function === `${fn}.openfaas-fn` && r.headers['x-ce-id'] === 'keep-1');
  const deadLetters = () => readDeadLetters(path.join(dir, 'deadletter', 'faas.jsonl'));

  let router = startRouter(configPath, [], { metricsPort });
  cleanups.push(() => router.stop('SIGKILL', 5000));
  await router.waitReady(10_000);
  const [r] = await postEvents(webhookUrl, [vcenterEvent(1, { id: 'keep-1', subject: 'VmPoweredOnEvent' })]);
  assert.equal(r.status, 202);
  await waitFor(() => invocations('fast').some((i) => i.answered) && invocations('hangs').length === 1, { timeout: 10_000, what: 'both functions invoked' });

  const started = Date.now();
  const exit = await router.stop('SIGTERM', 20_000);
  const seconds = (Date.now() - started) / 1000;
  assert.equal(exit.code, 0, router.stderr());
  assert.ok(seconds < 13, `shutdown took ${seconds} s (deadline 10 s)`);
  assert.match(router.stderr(), /keeping them in the disk queue/);
  assert.deepEqual(deadLetters(), [], 'kept, not dead-lettered');
  const firstRun = { fast: invocations('fast').length, hangs: invocations('hangs').length };

  functions[1].delayMs = 0; // the function answers now
  router = startRouter(configPath, [], { metricsPort });
  await router.waitReady(10_000);
  await waitFor(() => invocations('hangs').some((i) => i.answered), { timeout: 20_000, what: 'the kept event delivered again' });
  await sleep(500); // room for any further (wrong) invocation
  const secondRun = { fast: invocations('fast').length - firstRun.fast, hangs: invocations('hangs').length - firstRun.hangs };
  assert.equal((await router.stop('SIGTERM', 15_000)).code, 0, router.stderr());

  router = startRouter(configPath, [], { metricsPort });
  await router.waitReady(10_000);
  await sleep(1000);
  const thirdRun = { fast: invocations('fast').length - firstRun.fast - secondRun.fast, hangs: invocations('hangs').length - firstRun.hangs - secondRun.hangs };
  assert.equal((await router.stop('SIGTERM', 15_000)).code, 0, router.stderr());

  console.log(`# invocations per function: first run ${JSON.stringify(firstRun)}, after restart ${JSON.stringify(secondRun)}, third start ${JSON.stringify(thirdRun)}; shutdown ${seconds.toFixed(1)} s; dead letters ${deadLetters().length}`);
  assert.deepEqual(firstRun, { fast: 1, hangs: 1 });
  assert.deepEqual(secondRun, { fast: 1, hangs: 1 }, 'the whole event is delivered again: each matched function once');
  assert.deepEqual(thirdRun, { fast: 0, hangs: 0 }, 'finished after the second run');
  assert.deepEqual(deadLetters(), []);
});
