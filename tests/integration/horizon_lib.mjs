// Shared pieces of the Horizon integration tests: the fake Horizon server (tests/peers/horizon.mjs),
// a sink, and the router with the horizon source, restartable on the same checkpoint directory.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { start as startHorizon } from '../peers/horizon.mjs';
import { eventData, freePort, makeTmpDir, routerConfig, startRouter, startSink, waitFor, writeConfig } from './lib.mjs';

// Distinctive, so a leak into a log cannot hide behind a common word.
export const PASSWORD = 'Hz7-s3cr3t-not-for-logs';
export const DOMAIN = 'corp';
export const USERNAME = 'administrator';

/** A RouterConfig with the horizon source in place of the webhook (o as routerConfig, plus
 * address, password, checkpointDir, eventFormat, maxReplayAge). */
export function horizonRouterConfig(o) {
  const horizon = {
    address: o.address,
    insecureSSL: false,
    checkpoint: Boolean(o.checkpointDir),
    checkpointDir: o.checkpointDir || undefined,
    maxReplayAge: o.maxReplayAge,
    eventFormat: o.eventFormat,
    auth: { type: 'active_directory', activeDirectoryAuth: { domain: DOMAIN, username: USERNAME, password: o.password ?? PASSWORD } },
  };
  const config = routerConfig({ ...o, name: 'horizon-integration-test' });
  config.eventProvider = { type: 'horizon', name: 'hz', horizon };
  return config;
}

/** (time, id) order, the order the router must deliver in. */
export function byTimeAndId(a, b) {
  return a.time - b.time || a.id - b.id;
}

/**
 * A fake Horizon, a sink and a way to (re)start the router on them. o: checkpoint (default
 * false), horizon {...} (fake options), delivery {...}, eventFormat, maxReplayAge.
 */
export async function startHorizonStack(o = {}) {
  const hz = await startHorizon({ users: [{ domain: DOMAIN, username: USERNAME, password: PASSWORD }], ...(o.horizon ?? {}) });
  const sink = await startSink();
  const dir = makeTmpDir('event-router-horizon-');
  const checkpointDir = o.checkpoint ? path.join(dir, 'checkpoints') : null;
  const deadLetterDir = path.join(dir, 'deadletter');
  fs.mkdirSync(deadLetterDir);
  const routers = [];
  const stack = {
    hz,
    sink,
    dir,
    checkpointDir,
    routers,
    router: null,
    /** Starts a router (the previous one must be stopped); waits for /readyz unless wait=false. */
    async start({ wait = true, password, configText, configure } = {}) {
      const metricsPort = await freePort();
      const config =
        configText?.(metricsPort) ??
        horizonRouterConfig({
          address: hz.url,
          password,
          checkpointDir,
          eventFormat: o.eventFormat,
          maxReplayAge: o.maxReplayAge,
          metricsPort,
          sinkUrl: sink.url,
          deadLetterDir,
          delivery: o.delivery,
        });
      configure?.(config);
      const configPath = writeConfig(config, dir, `config-${routers.length}.yaml`);
      const router = startRouter(configPath, [], { metricsPort });
      routers.push(router);
      stack.router = router;
      if (wait) await router.waitReady(15_000);
      return router;
    },
    checkpointFile() {
      return path.join(checkpointDir, 'cp-horizon-127.0.0.1.json');
    },
    readCheckpoint() {
      return JSON.parse(fs.readFileSync(stack.checkpointFile(), 'utf8'));
    },
    /** Horizon ids the sink received, in arrival order. */
    ids() {
      return sink.events.map((e) => Number(e.id));
    },
    /** Waits until the sink has every one of events (Horizon objects). */
    async waitDelivered(events, timeout = 20_000) {
      await waitFor(
        () => {
          if (stack.router?.exited) throw Object.assign(new Error(`router exited: ${stack.router.stderr()}`), { fatal: true });
          return events.every((e) => sink.byId.has(String(e.id)));
        },
        { timeout, what: `${events.length} Horizon events at the sink (have ${sink.byId.size})` },
      );
    },
    async cleanup() {
      for (const r of routers) await r.stop('SIGTERM', 10_000).catch(() => {});
      await sink.close().catch(() => {});
      await hz.close().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** Every one of expected arrived exactly once, and (with one delivery at a time) in (time, id) order. */
export function assertExactlyOnce(stack, expected, { ordered = true } = {}) {
  const want = [...expected].sort(byTimeAndId).map((e) => e.id);
  const got = stack.ids();
  const counts = new Map();
  for (const id of got) counts.set(id, (counts.get(id) ?? 0) + 1);
  const missing = want.filter((id) => !counts.has(id));
  const repeated = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  assert.deepEqual(missing, [], `${missing.length} events missing`);
  assert.deepEqual(repeated, [], `${repeated.length} events delivered twice`);
  const wanted = new Set(want);
  const extra = got.filter((id) => !wanted.has(id));
  assert.deepEqual(extra, [], 'only the expected events');
  if (ordered) assert.deepEqual(got, want, 'delivered in (time, id) order');
}

export { eventData };
