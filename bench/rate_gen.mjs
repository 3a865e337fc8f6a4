// Constant-rate generator: posts binary-mode CloudEvents at RATE events/s for SECONDS to URL,
// each stamped with its *scheduled* send time (extension benchsent, microseconds since the epoch)
// so that queueing in front of a slow receiver counts in the latency (no coordinated omission).
//   node bench/rate_gen.mjs URL RATE SECONDS   -> prints JSON {sent, ok, failed, seconds, rate}
import http from 'node:http';

const [url, rate = '5000', seconds = '10'] = process.argv.slice(2);
const total = Number(rate) * Number(seconds);
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
const body = JSON.stringify({
  Key: 1, ChainId: 1, CreatedTime: '2024-01-01T12:00:00Z', UserName: 'VSPHERE.LOCAL\\svc',
  Datacenter: { Name: 'Datacenter', Datacenter: { Type: 'Datacenter', Value: 'datacenter-2' } },
  Vm: { Name: 'vm-app-01', Vm: { Type: 'VirtualMachine', Value: 'vm-1001' } },
  FullFormattedMessage: 'vm-app-01 on esx-1.vcenter.local in Datacenter is powered on',
});
// 64 subjects: per-subject ordering leaves the router 64 parallel lanes, as in post_event.lua.
const subjects = Array.from({ length: 64 }, (_, i) => `VmPoweredOnEvent-${i + 1}`);

let sent = 0;
let ok = 0;
let failed = 0;
let done = 0;
const start = performance.timeOrigin + performance.now();

function send(i, scheduledMs) {
  const req = http.request(url, {
    method: 'POST',
    agent,
    headers: {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': `gen-${i}`,
      'ce-source': 'https://vcenter.local/sdk',
      'ce-type': 'com.vmware.event.router/event',
      'ce-subject': subjects[i % subjects.length],
      'ce-benchsent': String(Math.round(scheduledMs * 1000)),
    },
  }, (res) => {
    res.resume();
    res.on('end', () => {
      if (res.statusCode === 202) ok++;
      else failed++;
      done++;
    });
  });
  req.on('error', () => {
    failed++;
    done++;
  });
  req.end(body);
}

const timer = setInterval(() => {
  const now = performance.timeOrigin + performance.now();
  const due = Math.min(total, Math.floor(((now - start) / 1000) * Number(rate)));
  while (sent < due) {
    send(sent, start + (sent / Number(rate)) * 1000);
    sent++;
  }
  if (sent >= total) clearInterval(timer);
}, 1);

const deadline = Date.now() + Number(seconds) * 1000 + 15_000;
const waitDone = setInterval(() => {
  if ((sent >= total && done >= total) || Date.now() > deadline) {
    clearInterval(waitDone);
    const elapsed = (performance.timeOrigin + performance.now() - start) / 1000;
    console.log(JSON.stringify({ sent, ok, failed, seconds: elapsed, rate: sent / Number(seconds) }));
    agent.destroy();
    process.exit(0);
  }
}, 20);
