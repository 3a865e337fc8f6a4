// The takeover benchmark (bench/ha_takeover.sh): leader death -> first event from the new leader.
import { parseArgs } from 'node:util';
import os from 'node:os';
import { sleep } from '../tests/integration/lib.mjs';
import { startHaStack } from '../tests/integration/ha_lib.mjs';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    term: { type: 'boolean', default: false },
    lease: { type: 'string', default: '3' },
    renew: { type: 'string', default: '2' },
    retry: { type: 'string', default: '0.5' },
  },
});
const durations = { leaseDuration: Number(values.lease), renewDeadline: Number(values.renew), retryPeriod: Number(values.retry) };
const trials = Number(values.trials);
const signal = values.term ? 'SIGTERM' : 'SIGKILL';

const stack = await startHaStack({ durations });
const results = [];
try {
  await Promise.all([stack.start('a'), stack.start('b')]);
  for (const r of stack.routers.values()) await r.waitReady(20_000);
  stack.startStream(100);
  for (let i = 0; i < trials; i++) {
    const leader = await stack.waitLeader();
    const other = [...stack.routers.keys()].find((id) => id !== leader);
    await sleep(1500); // streaming, with a checkpoint or two written
    const before = stack.sink.arrivals.length;
    const killedAt = Date.now();
    stack.routers.get(leader).proc.kill(signal);
    let first = null;
    while (!first && Date.now() - killedAt < 60_000) {
      first = stack.sink.arrivals.slice(before).find((a) => a.path.startsWith(`/${other}`) && a.at >= killedAt);
      if (!first) await sleep(5);
    }
    const ms = first ? first.at - killedAt : NaN;
    results.push(ms);
    console.log(`trial ${i + 1}: ${signal} ${leader} -> first event from ${other} after ${ms} ms`);
    await stack.routers.get(leader).exit;
    // The same identity comes back as the standby (a restarted pod keeps its name).
    await stack.start(leader);
    await stack.routers.get(leader).waitReady(20_000);
  }
} finally {
  await stack.cleanup();
}
const sorted = results.filter(Number.isFinite).sort((x, y) => x - y);
const p50 = sorted[Math.floor((sorted.length - 1) / 2)];
console.log(`takeover (${signal}, leaseDuration ${durations.leaseDuration}s, renewDeadline ${durations.renewDeadline}s, ` +
  `retryPeriod ${durations.retryPeriod}s), ${sorted.length}/${trials} trials: p50 ${p50} ms, max ${sorted[sorted.length - 1]} ms; ` +
  `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
