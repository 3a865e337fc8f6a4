// Posts sample vCenter CloudEvents, shaped like the ones the VMware Event Router (VEBA) emits, to a
// webhook: binary, structured or batched content mode, at a chosen rate and count.
//
// Module: vcenterEvent(i, opts) builds one event; encode(events, mode) builds HTTP requests;
//         postEvents(url, events, {mode, batchSize, concurrency, rate, auth}) sends them.
// CLI:    node tests/peers/send.mjs --url http://127.0.0.1:8080/webhook [--mode binary|structured|batch]
//           [--count 10] [--rate 0 (events/s, 0 = as fast as possible)] [--batch-size 50]
//           [--user u --password p]
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const EVENT_TYPE = 'com.vmware.event.router/event';
export const SOURCE = 'https://vcenter.local/sdk';
export const SUBJECTS = [
  'VmPoweredOnEvent',
  'VmPoweredOffEvent',
  'VmReconfiguredEvent',
  'DrsVmPoweredOnEvent',
  'UserLoginSessionEvent',
];

// More real vCenter event types, for tests that want many independent ordering lanes.
export const MORE_SUBJECTS = [
  ...SUBJECTS, 'VmCreatedEvent', 'VmRemovedEvent', 'VmMigratedEvent', 'VmRenamedEvent', 'VmSuspendedEvent',
  'VmResettingEvent', 'VmGuestShutdownEvent', 'VmStartingEvent', 'VmStoppingEvent', 'HostConnectedEvent',
  'HostDisconnectedEvent', 'AlarmStatusChangedEvent', 'TaskEvent', 'UserLogoutSessionEvent', 'DatastoreRenamedEvent',
];

const MESSAGES = {
  VmPoweredOnEvent: (vm, host) => `${vm} on ${host} in Datacenter is powered on`,
  VmPoweredOffEvent: (vm, host) => `${vm} on ${host} in Datacenter is powered off`,
  VmReconfiguredEvent: (vm, host) => `Reconfigured ${vm} on ${host} in Datacenter`,
  DrsVmPoweredOnEvent: (vm, host) => `DRS powered on ${vm} on ${host} in Datacenter`,
  UserLoginSessionEvent: () => 'User VSPHERE.LOCAL\\Administrator@127.0.0.1 logged in as pyvmomi',
};

/**
 * One VEBA-shaped vCenter event as plain CloudEvent attributes + data (govmomi JSON shape).
 * opts: subject, seq (goes to data.Seq, for ordering checks), id, extensions {name: value}.
 */
export function vcenterEvent(i, opts = {}) {
  const subject = opts.subject ?? SUBJECTS[i % SUBJECTS.length];
  const vmName = `vm-app-${String(i % 97).padStart(2, '0')}`;
  const vmRef = `vm-${1000 + (i % 97)}`;
  const hostName = `esx-${(i % 4) + 1}.vcenter.local`;
  const key = 10_000 + i;
  const created = new Date(Date.UTC(2024, 0, 1, 12, 0, 0) + i * 1000).toISOString();
  const data = {
    Key: key,
    ChainId: key,
    CreatedTime: created,
    UserName: subject === 'UserLoginSessionEvent' ? 'VSPHERE.LOCAL\\Administrator' : 'VSPHERE.LOCAL\\svc-automation',
    Datacenter: { Name: 'Datacenter', Datacenter: { Type: 'Datacenter', Value: 'datacenter-2' } },
    ComputeResource: { Name: 'Cluster-01', ComputeResource: { Type: 'ClusterComputeResource', Value: 'domain-c7' } },
    Host: { Name: hostName, Host: { Type: 'HostSystem', Value: `host-${(i % 4) + 10}` } },
    Vm: { Name: vmName, Vm: { Type: 'VirtualMachine', Value: vmRef } },
    Ds: null,
    Net: null,
    Dvs: null,
    FullFormattedMessage: MESSAGES[subject]?.(vmName, hostName) ?? `${subject} for ${vmName}`,
    ChangeTag: '',
    Template: false,
    Seq: opts.seq ?? i,
  };
  return {
    specversion: '1.0',
    id: opts.id ?? randomUUID(),
    source: SOURCE,
    type: EVENT_TYPE,
    subject,
    time: created,
    datacontenttype: 'application/json',
    ...(opts.extensions ?? {}),
    data,
  };
}

const CORE = new Set(['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'dataschema', 'data']);

/** Encodes events into HTTP requests ({headers, body}) in one content mode. */
export function encode(events, mode = 'binary', batchSize = 50) {
  if (mode === 'binary') {
    return events.map((e) => {
      const headers = { 'content-type': e.datacontenttype ?? 'application/json' };
      for (const [k, v] of Object.entries(e)) {
        if (k === 'data' || k === 'datacontenttype' || v === undefined) continue;
        headers[`ce-${k}`] = String(v);
      }
      return { headers, body: JSON.stringify(e.data) };
    });
  }
  if (mode === 'structured') {
    return events.map((e) => ({
      headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
      body: JSON.stringify(e),
    }));
  }
  if (mode === 'batch') {
    const requests = [];
    for (let i = 0; i < events.length; i += batchSize) {
      requests.push({
        headers: { 'content-type': 'application/cloudevents-batch+json; charset=utf-8' },
        body: JSON.stringify(events.slice(i, i + batchSize)),
      });
    }
    return requests;
  }
  throw new Error(`unknown mode ${mode} (binary, structured, batch)`);
}

export function extensionsOf(event) {
  return Object.fromEntries(Object.entries(event).filter(([k]) => !CORE.has(k)));
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP request; resolves {status, headers, body} (never rejects on HTTP status). */
export function request(url, { method = 'POST', headers = {}, body, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

export function basicAuth(user, password) {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * Posts events in one mode. rate (events/s, 0 = unlimited) paces the requests; concurrency bounds
 * requests in flight. Resolves the responses in request order.
 */
export async function postEvents(url, events, options = {}) {
  const { mode = 'binary', batchSize = 50, concurrency = 16, rate = 0, auth, headers: extra = {} } = options;
  const requests = encode(events, mode, batchSize);
  const perRequest = mode === 'batch' ? batchSize : 1;
  const responses = new Array(requests.length);
  const started = Date.now();
  let next = 0;
  async function worker() {
    while (next < requests.length) {
      const i = next++;
      if (rate > 0) {
        const due = started + ((i * perRequest) / rate) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const headers = { ...requests[i].headers, ...extra };
      if (auth) headers.authorization = basicAuth(auth.user, auth.password);
      responses[i] = await request(url, { headers, body: requests[i].body });
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker));
  return responses;
}

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      mode: { type: 'string', default: 'binary' },
      count: { type: 'string', default: '10' },
      rate: { type: 'string', default: '0' },
      'batch-size': { type: 'string', default: '50' },
      concurrency: { type: 'string', default: '8' },
      user: { type: 'string' },
      password: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values.url) {
    console.log('usage: node send.mjs --url http://127.0.0.1:PORT/webhook [--mode binary|structured|batch] ' +
      '[--count N] [--rate EVENTS_PER_S] [--batch-size 50] [--user U --password P]');
    process.exit(values.help ? 0 : 2);
  }
  const count = Number(values.count);
  const events = Array.from({ length: count }, (_, i) => vcenterEvent(i));
  const auth = values.user ? { user: values.user, password: values.password ?? '' } : undefined;
  const responses = await postEvents(values.url, events, {
    mode: values.mode,
    batchSize: Number(values['batch-size']),
    concurrency: Number(values.concurrency),
    rate: Number(values.rate),
    auth,
  });
  const byStatus = {};
  for (const r of responses) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  const summary = Object.entries(byStatus).map(([s, n]) => `${n}x ${s}`).join(', ');
  console.log(`send: ${count} events in ${responses.length} ${values.mode} requests: ${summary}`);
  const failed = responses.find((r) => r.status !== 202);
  if (failed) console.log(`send: first non-202 answer: ${failed.status} ${failed.body}`);
  agent.destroy();
  process.exit(failed ? 1 : 0);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(`send: ${err.message}`);
    process.exit(1);
  });
}
