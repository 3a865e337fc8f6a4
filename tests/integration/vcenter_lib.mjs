// Shared pieces of the vCenter integration tests: one simulator (tests/peers/vcsim) + one sink +
// the router with the vcenter source, restartable on the same checkpoint directory.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildVcsim, startVcsim } from '../peers/vcsim.mjs';
import {
  eventData,
  freePort,
  makeTmpDir,
  request,
  startRouter,
  startSink,
  vcenterRouterConfig,
  waitFor,
  writeConfig,
} from './lib.mjs';

// Any non-empty password logs in to the simulator; this one is distinctive so a leak in the logs
// cannot hide behind a common word.
export const PASSWORD = 'Zq9-s3cr3t-not-for-logs';

/** The vCenter Key of an event the sink received, in either event format. */
export function keyOf(event, format = 'router') {
  return format === 'sources-for-knative' ? Number(event.id) : eventData(event).Key;
}

/** The newest key the simulator recorded (0 when none). */
export async function newestKey(vc) {
  const events = await vc.events(1);
  return events.length ? events[events.length - 1].key : 0;
}

/**
 * A simulator, a sink and a way to (re)start the router on them. o: eventFormat, checkpoint
 * (default true), delivery {...}, username, password, filter (the processor's).
 */
export async function startVcenterStack(o = {}) {
  buildVcsim();
  const vc = await startVcsim({ lifetimeSeconds: 300, login: o.login ?? null });
  const sink = await startSink();
  const dir = makeTmpDir('event-router-vcenter-');
  const checkpointDir = o.checkpoint === false ? null : path.join(dir, 'checkpoints');
  const deadLetterDir = path.join(dir, 'deadletter');
  fs.mkdirSync(deadLetterDir);
  const routers = [];
  const format = o.eventFormat ?? 'router';

  const stack = {
    vc,
    sink,
    dir,
    checkpointDir,
    format,
    routers,
    router: null,
    metricsUrl: null,
    /** Starts a router (the previous one must be stopped); waits for /readyz unless wait=false. */
    async start({ wait = true, address = vc.url, username = o.username ?? vc.username, password = o.password ?? PASSWORD } = {}) {
      const metricsPort = await freePort();
      const config = vcenterRouterConfig({
        address,
        username,
        password,
        checkpointDir,
        eventFormat: o.eventFormat,
        metricsPort,
        sinkUrl: sink.url,
        deadLetterDir,
        delivery: o.delivery,
        filter: o.filter,
      });
      const configPath = writeConfig(config, dir, `config-${routers.length}.yaml`);
      const router = startRouter(configPath, [], { metricsPort });
      routers.push(router);
      stack.router = router;
      stack.metricsUrl = router.metricsUrl;
      if (wait) await router.waitReady(15_000);
      return router;
    },
    async readyStatus() {
      const r = await request(`${stack.metricsUrl}/readyz`, { method: 'GET', timeoutMs: 1000 });
      return r.status;
    },
    /** Every key the sink received, in arrival order. */
    keys() {
      return sink.events.map((e) => keyOf(e, format));
    },
    /** Waits until the sink holds every key the simulator recorded above since. */
    async waitCaughtUp(since, timeout = 10_000) {
      let missing = [];
      await waitFor(
        async () => {
          const received = new Set(stack.keys());
          const recorded = (await vc.events(1000)).filter((e) => e.key > since);
          missing = recorded.filter((e) => !received.has(e.key)).map((e) => `${e.key}:${e.class}`);
          return missing.length === 0;
        },
        { timeout, interval: 100, what: 'the sink to hold every recorded event' },
      ).catch((err) => {
        throw new Error(`${err.message}; missing ${missing.join(' ')}\nrouter stderr:\n${stack.router?.stderr()}`);
      });
    },
    checkpointFile() {
      return path.join(checkpointDir, 'cp-127.0.0.1.json');
    },
    readCheckpoint() {
      return JSON.parse(fs.readFileSync(stack.checkpointFile(), 'utf8'));
    },
    allStderr() {
      return routers.map((r) => r.stderr()).join('');
    },
    async cleanup() {
      for (const r of routers) await r.stop('SIGTERM', 10_000).catch(() => {});
      await sink.close().catch(() => {});
      await vc.stop().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** The managed object an event is about, most specific first: the router's ordering key (events
 * about one object are delivered one after the other; different objects go in parallel). */
export function orderingObject(data) {
  const paths = [['Vm', 'Vm'], ['Host', 'Host'], ['Ds', 'Datastore'], ['Net', 'Network'], ['Dvs', 'Dvs'],
    ['ComputeResource', 'ComputeResource'], ['Datacenter', 'Datacenter']];
  for (const [a, b] of paths) {
    const value = data?.[a]?.[b]?.Value;
    if (typeof value === 'string' && value) return value;
  }
  return null;
}

/** Asserts keys (arrival order) are increasing among events about the same object. */
export function assertKeyOrderPerObject(events, format = 'router') {
  const last = new Map();
  for (const e of events) {
    const object = orderingObject(eventData(e));
    if (!object) continue;
    const key = keyOf(e, format);
    assert.ok(key > (last.get(object) ?? 0), `${object}: key ${key} arrived after ${last.get(object)}`);
    last.set(object, key);
  }
  return last.size;
}

/**
 * Asserts every key above since arrived exactly once and, per managed object, in increasing key
 * order (the dispatcher's ordering guarantee: an event without an object, such as a posted
 * ExtendedEvent, may overtake others). Returns the keys in arrival order.
 */
export function assertExactlyOnceInOrder(stack, since) {
  const events = stack.sink.events.filter((e) => keyOf(e, stack.format) > since);
  const keys = events.map((e) => keyOf(e, stack.format));
  const counts = new Map();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
  assert.deepEqual(twice, [], `keys delivered more than once: ${twice.join(' ')}`);
  assertKeyOrderPerObject(events, stack.format);
  return keys;
}

/** The simulator's golden events by key. */
export async function goldenByKey(vc) {
  return new Map((await vc.events(1000)).map((e) => [e.key, e]));
}
