// Shared pieces of the high-availability tests: one vCenter simulator, one sink, the fake
// Kubernetes API (tests/peers/k8s_api_fake.mjs) and routers a, b, ... electing on one Lease.
// Each router delivers to its own sink path (/a, /b), so the sink's arrivals say who streamed.
import fs from 'node:fs';
import path from 'node:path';
import { startK8sApiFake } from '../peers/k8s_api_fake.mjs';
import { buildVcsim, startVcsim } from '../peers/vcsim.mjs';
import { freePort, makeTmpDir, parsePrometheus, request, sleep, startRouter, startSink, vcenterRouterConfig, waitFor, writeConfig } from './lib.mjs';
import { PASSWORD, keyOf } from './vcenter_lib.mjs';

// Shorter than client-go's 15 s / 10 s / 2 s so a takeover fits a test.
export const DURATIONS = { leaseDuration: 3, renewDeadline: 2, retryPeriod: 0.5 };

export async function startHaStack({ ids = ['a', 'b'], checkpointStore = process.env.EVENT_ROUTER_HA_STORE ?? 'configmap', durations = DURATIONS } = {}) {
  buildVcsim();
  const vc = await startVcsim({ lifetimeSeconds: 300 });
  const sink = await startSink();
  const api = await startK8sApiFake({ clients: ids });
  const dir = makeTmpDir('event-router-ha-');
  const checkpointDir = path.join(dir, 'checkpoints'); // shared: the file store on one host
  const routers = new Map();
  const all = [];
  let streaming = null;

  const stack = {
    vc,
    sink,
    api,
    dir,
    routers,
    durations,
    async start(id, { extra = {} } = {}) {
      const metricsPort = await freePort();
      const own = path.join(dir, id);
      fs.mkdirSync(path.join(own, 'deadletter'), { recursive: true });
      const config = vcenterRouterConfig({
        address: vc.url,
        username: vc.username,
        password: PASSWORD,
        checkpointDir,
        metricsPort,
        sinkUrl: `${sink.url}${id}`,
        deadLetterDir: path.join(own, 'deadletter'),
      });
      config.leaderElection = {
        leaseName: 'event-router',
        identity: id,
        leaseDuration: `${durations.leaseDuration}s`,
        renewDeadline: `${durations.renewDeadline}s`,
        retryPeriod: `${durations.retryPeriod * 1000}ms`,
      };
      // The webhook source beside it: intake on every replica, leader or not.
      const webhookPort = await freePort();
      config.eventProviders = [config.eventProvider, { type: 'webhook', name: 'hook', webhook: { bindAddress: `127.0.0.1:${webhookPort}`, path: '/webhook' } }];
      delete config.eventProvider;
      config.console = { socket: path.join(own, 'console.sock') };
      if (checkpointStore === 'configmap') config.checkpointStore = { type: 'configmap', name: 'event-router-checkpoint' };
      Object.assign(config, extra);
      const configPath = writeConfig(config, own, 'config.yaml');
      const router = startRouter(configPath, [], { metricsPort, env: api.env(id) });
      router.id = id;
      router.webhookUrl = `http://127.0.0.1:${webhookPort}/webhook`;
      router.consoleSocket = config.console.socket;
      routers.set(id, router);
      all.push(router);
      return router;
    },
    /** 1 / 0 from the router's /metrics, or null when it does not answer. */
    async leading(id) {
      const router = routers.get(id);
      if (!router || router.exited) return null;
      const r = await request(`${router.metricsUrl}/metrics`, { method: 'GET', timeoutMs: 1000 }).catch(() => null);
      if (!r || r.status !== 200) return null;
      const sample = parsePrometheus(r.body).samples.find((s) => s.name === 'event_router_leader');
      return sample ? sample.value : null;
    },
    async leaders() {
      const out = [];
      for (const id of routers.keys()) if ((await stack.leading(id)) === 1) out.push(id);
      return out;
    },
    async waitLeader({ not = null, timeout = 15_000, interval = 25 } = {}) {
      let found = null;
      await waitFor(
        async () => {
          const leaders = (await stack.leaders()).filter((id) => id !== not);
          if (leaders.length) found = leaders[0];
          return found !== null;
        },
        { timeout, interval, what: `a leader${not ? ` other than ${not}` : ''}` },
      ).catch((err) => {
        throw new Error(`${err.message}\n${stack.allStderr()}`);
      });
      return found;
    },
    /** Posts events at about perSecond (10 per batch) until stopStream(). */
    startStream(perSecond = 100) {
      let running = true;
      const batch = 10;
      const loop = (async () => {
        while (running) {
          const t0 = Date.now();
          await vc.control(`/events/post-many?count=${batch}&workers=1`).catch(() => {});
          await sleep(Math.max(0, (1000 * batch) / perSecond - (Date.now() - t0)));
        }
      })();
      streaming = { stop: async () => { running = false; await loop; } };
    },
    async stopStream() {
      if (streaming) await streaming.stop();
      streaming = null;
    },
    keysOf(pathPrefix = null) {
      return sink.events.filter((e, i) => !pathPrefix || sink.arrivals[i].path.startsWith(pathPrefix)).map((e) => keyOf(e)).filter((k) => k !== undefined);
    },
    /** Waits until every key in (since, upTo] reached the sink; returns {missing, duplicates}. */
    async waitAllKeys(since, upTo, timeout = 20_000) {
      let missing = [];
      await waitFor(
        () => {
          const got = new Set(stack.keysOf());
          missing = [];
          for (let k = since + 1; k <= upTo; k++) if (!got.has(k)) missing.push(k);
          return missing.length === 0;
        },
        { timeout, interval: 100, what: `every key ${since + 1}..${upTo} at the sink` },
      ).catch((err) => {
        throw new Error(`${err.message}; ${missing.length} missing (${missing.slice(0, 20).join(' ')}...)\n${stack.allStderr()}`);
      });
      const counts = new Map();
      for (const k of stack.keysOf()) if (k > since && k <= upTo) counts.set(k, (counts.get(k) ?? 0) + 1);
      const duplicates = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
      return { duplicates };
    },
    /** The wall-clock time (ms) of a router's first log line matching re, or null. */
    logTime(id, re) {
      for (const line of routers.get(id).stderr().split('\n'))
        if (re.test(line)) return Date.parse(line.split(' ')[0]);
      return null;
    },
    allStderr() {
      return all.map((r) => `--- router ${r.id} ---\n${r.stderr()}`).join('\n');
    },
    async cleanup() {
      await stack.stopStream();
      for (const r of all) await r.stop('SIGKILL', 5000).catch(() => {});
      await sink.close().catch(() => {});
      await vc.stop().catch(() => {});
      await api.close().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
}
