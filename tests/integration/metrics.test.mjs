// The metrics server: health and readiness, /stats in the VMware Event Router's JSON shape, and
// Prometheus /metrics, checked against what was really sent and delivered.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue, parsePrometheus, postEvents, request, startStack, SUBJECTS, vcenterEvent, waitFor } from './lib.mjs';

const N = 250;

// Finds the stats entry of a provider/processor by name, wherever the shape nests it: as a key
// ({"hook": {...}}) or as a "name"/"provider" field of an entry.
function findEntry(node, name, mustHave) {
  if (!node || typeof node !== 'object') return undefined;
  for (const [key, value] of Object.entries(node)) {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const named = key === name || value.name === name || value.provider === name;
      if (named && mustHave.some((k) => k in value)) return value;
    }
  }
  for (const value of Object.values(node)) {
    const found = findEntry(value, name, mustHave);
    if (found) return found;
  }
  return undefined;
}

describe('metrics server', () => {
  let stack;
  const sent = Array.from({ length: N }, (_, i) => vcenterEvent(i, { id: `metrics-${i}` }));
  const perSubject = {};
  for (const e of sent) perSubject[e.subject] = (perSubject[e.subject] ?? 0) + 1;

  before(async () => {
    stack = await startStack();
    const responses = await postEvents(stack.webhookUrl, sent, { concurrency: 8 });
    assert.ok(responses.every((r) => r.status === 202));
    await stack.sink.waitForCount(N, 30_000);
  });
  after(async () => {
    await stack?.cleanup();
  });

  test('/healthz and /readyz answer 200', async () => {
    for (const p of ['/healthz', '/readyz']) {
      const r = await request(`${stack.metricsUrl}${p}`, { method: 'GET' });
      assert.equal(r.status, 200, `${p}: ${r.status} ${r.body}`);
    }
  });

  test('/stats counts the events taken in and the invocations per subject', async () => {
    let stats;
    let processor;
    await waitFor(async () => {
      const r = await request(`${stack.metricsUrl}/stats`, { method: 'GET' });
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'] ?? '', /json/);
      stats = JSON.parse(r.body);
      processor = findEntry(stats, 'knative', ['invocations']);
      const total = Object.values(processor?.invocations ?? {}).reduce((a, v) => a + (v.SuccessCount ?? 0), 0);
      return total >= N;
    }, { timeout: 10_000, what: `/stats to count ${N} successful invocations` }).catch((err) => {
      throw new Error(`${err.message}\n/stats: ${JSON.stringify(stats)}`);
    });

    const provider = findEntry(stats, 'webhook', ['events_total', 'eventsTotal']);
    assert.ok(provider, `no stats entry for provider "hook": ${JSON.stringify(stats)}`);
    assert.equal(provider.events_total ?? provider.eventsTotal, N);
    assert.equal(provider.events_err ?? provider.eventsErr ?? 0, 0);

    for (const subject of SUBJECTS) {
      const inv = processor.invocations[subject];
      assert.ok(inv, `no invocations for ${subject}: ${JSON.stringify(processor.invocations)}`);
      assert.equal(inv.SuccessCount, perSubject[subject], `successes of ${subject}`);
      assert.equal(inv.FailureCount, 0, `failures of ${subject}`);
    }
    assert.deepEqual(Object.keys(processor.invocations).sort(), Object.keys(perSubject).sort());
  });

  test('/metrics counters and the latency histogram match', async () => {
    let parsed;
    await waitFor(async () => {
      const r = await request(`${stack.metricsUrl}/metrics`, { method: 'GET' });
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'] ?? '', /^text\/plain/);
      parsed = parsePrometheus(r.body);
      return metricValue(parsed, 'event_router_events_out_total') === N;
    }, { timeout: 10_000, what: 'event_router_events_out_total to reach N' });

    assert.equal(parsed.types.event_router_events_in_total, 'counter');
    assert.equal(metricValue(parsed, 'event_router_events_in_total'), N);
    assert.equal(metricValue(parsed, 'event_router_events_out_total'), N);
    assert.equal(metricValue(parsed, 'event_router_events_dead_lettered_total') ?? 0, 0);

    const histograms = Object.entries(parsed.types).filter(([, t]) => t === 'histogram').map(([n]) => n);
    assert.ok(histograms.length > 0, 'no histogram in /metrics');
    const counts = histograms.map((h) => metricValue(parsed, `${h}_count`));
    assert.ok(counts.includes(N), `no histogram counted ${N} events: ${histograms} -> ${counts}`);
    for (const h of histograms) {
      const buckets = parsed.samples.filter((s) => s.name === `${h}_bucket`);
      assert.ok(buckets.length > 1, `${h} has no buckets`);
      const series = new Map(); // one label set (without le) -> its buckets
      for (const b of buckets) {
        const { le, ...rest } = b.labels;
        const key = JSON.stringify(rest);
        if (!series.has(key)) series.set(key, []);
        series.get(key).push({ le, value: b.value });
      }
      let infTotal = 0;
      for (const [key, list] of series) {
        const values = list.map((b) => b.value);
        assert.deepEqual([...values].sort((a, b) => a - b), values, `${h}${key} buckets are not cumulative`);
        const inf = list.find((b) => b.le === '+Inf');
        assert.ok(inf, `${h}${key} has no +Inf bucket`);
        infTotal += inf.value;
      }
      assert.equal(infTotal, metricValue(parsed, `${h}_count`), `${h}: +Inf buckets != _count`);
    }
  });
});
