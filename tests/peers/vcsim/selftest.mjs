// Self-test of the vCenter simulator peer: real events through the control
// API, the golden /events encoding, restart, bulk posting and TLS.
// Run: tools/build-vcsim.sh && node tests/peers/vcsim/selftest.mjs
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { buildVcsim, startVcsim } from '../vcsim.mjs';

const soapEnvelope = (body) =>
  `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:vim25"><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;

async function soap(url, body, cookie) {
  const headers = { 'content-type': 'text/xml', SOAPAction: 'urn:vim25/6.5' };
  if (cookie) headers.cookie = cookie;
  const res = await fetch(url, { method: 'POST', headers, body: soapEnvelope(body) });
  return { status: res.status, text: await res.text(), setCookie: res.headers.get('set-cookie') };
}

async function login(vc) {
  const r = await soap(vc.url, `<urn:Login><urn:_this type="SessionManager">SessionManager</urn:_this><urn:userName>${vc.username}</urn:userName><urn:password>${vc.password}</urn:password></urn:Login>`);
  assert.equal(r.status, 200, r.text);
  return r.setCookie.split(';')[0];
}

const currentTime = (vc, cookie) =>
  soap(vc.url, '<urn:CurrentTime><urn:_this type="ServiceInstance">ServiceInstance</urn:_this></urn:CurrentTime>', cookie);

const last = (events) => events[events.length - 1];

async function testEventsAndVms() {
  const t0 = performance.now();
  const vc = await startVcsim();
  console.log(`start: ${(performance.now() - t0).toFixed(0)} ms`);
  try {
    assert.match(vc.url, /^http:\/\/127\.0\.0\.1:\d+\/sdk$/);
    assert.ok(vc.username && vc.password);
    const vms = await vc.vms();
    const target = vms.find((v) => v.powerState === 'poweredOn');
    assert.ok(target, JSON.stringify(vms));

    await vc.control(`/vm/poweroff?name=${target.name}`);
    let ev = last(await vc.events(5));
    assert.equal(ev.class, 'VmPoweredOffEvent');
    assert.equal(ev.json.Vm.Name, target.name);
    assert.equal(ev.json.Key, ev.key);
    await assert.rejects(vc.control(`/vm/poweroff?name=${target.name}`), /HTTP 409/);
    await assert.rejects(vc.control('/vm/poweron?name=no-such-vm'), /HTTP 404/);
    await vc.control(`/vm/poweron?name=${target.name}`);
    assert.equal(last(await vc.events(5)).class, 'VmPoweredOnEvent');

    const typeId = `com.example.selftest.${process.pid}.${Date.now()}`;
    await vc.control('/event/post', { kind: 'EventEx', eventTypeId: typeId, message: 'hello', vm: target.name });
    ev = last(await vc.events(3));
    assert.equal(ev.class, 'EventEx');
    assert.equal(ev.json.EventTypeId, typeId);
    assert.equal(ev.json.Message, 'hello');
    assert.equal(ev.json.Vm.Name, target.name);
    assert.equal(ev.json.ObjectName, target.name);

    await vc.control('/event/post', { kind: 'ExtendedEvent', eventTypeId: typeId + '.ext', message: 'ext' });
    ev = last(await vc.events(3));
    assert.equal(ev.class, 'ExtendedEvent');
    assert.equal(ev.json.EventTypeId, typeId + '.ext');
    assert.equal(ev.json.ManagedObject.Type, 'Folder');

    await vc.control('/event/post', { kind: 'GeneralUserEvent', message: 'note' });
    ev = last(await vc.events(3));
    assert.equal(ev.class, 'GeneralUserEvent');
    assert.equal(ev.json.Message, 'note');
    await assert.rejects(vc.control('/event/post', { kind: 'Bogus', eventTypeId: 'x' }), /HTTP 400/);

    const name = `selftest-vm-${process.pid}`;
    await vc.control(`/vm/create?name=${name}`);
    assert.ok((await vc.events(20)).some((e) => e.class === 'VmCreatedEvent' && e.json.Vm.Name === name));
    assert.ok((await vc.vms()).some((v) => v.name === name));
    await vc.control(`/vm/destroy?name=${name}`);
    assert.equal(last(await vc.events(3)).class, 'VmRemovedEvent');
    assert.ok(!(await vc.vms()).some((v) => v.name === name));

    // /events is oldest first and really the newest ones.
    const many = await vc.events(1000);
    const keys = many.map((e) => e.key);
    assert.deepEqual(keys, [...keys].sort((a, b) => a - b));
    assert.deepEqual((await vc.events(4)).map((e) => e.key), keys.slice(-4));

    for (const via of ['inproc', 'sdk']) {
      const count = via === 'sdk' ? 1000 : 5000;
      const before = last(await vc.events(1)).key;
      const r = await vc.control(`/events/post-many?count=${count}&via=${via}`);
      assert.equal(r.posted, count);
      const after = await vc.events(1000);
      // Other events (the control client's) may interleave; keys are contiguous.
      assert.equal(last(after).key - before, count);
      assert.ok(after.slice(-10).every((e) => e.class === 'GeneralUserEvent'));
      console.log(`post-many via ${via}: ${Math.round(r.perSecond)} events/s`);
    }
  } finally {
    await vc.stop();
  }
}

async function testRestart() {
  const vc = await startVcsim();
  try {
    const cookie = await login(vc);
    assert.equal((await currentTime(vc, cookie)).status, 200);
    const before = last(await vc.events(1)).key;
    const r = await vc.control('/restart?down_ms=300');
    assert.ok(r.sessionsEnded >= 2, JSON.stringify(r)); // ours and the control client's
    const stale = await currentTime(vc, cookie);
    assert.equal(stale.status, 500);
    assert.match(stale.text, /NotAuthenticated/);
    const fresh = await login(vc);
    assert.equal((await currentTime(vc, fresh)).status, 200);
    // History survives, as in vCenter's database.
    const events = await vc.events(1000);
    assert.ok(events.some((e) => e.key === before));
    await vc.control('/vm/poweroff?name=DC0_H0_VM0');
    assert.equal(last(await vc.events(1)).class, 'VmPoweredOffEvent');
  } finally {
    await vc.stop();
  }
}

async function testRestartRefusesWhileDown() {
  const vc = await startVcsim();
  try {
    const restart = vc.control('/restart?down_ms=500');
    await new Promise((r) => setTimeout(r, 200));
    await assert.rejects(fetch(vc.url, { method: 'POST', body: '' }));
    await restart;
    assert.equal((await fetch(vc.url, { method: 'POST', body: '' })).status >= 200, true);
  } finally {
    await vc.stop();
  }
}

async function testTls() {
  const vc = await startVcsim({ tls: true });
  try {
    assert.match(vc.url, /^https:\/\/127\.0\.0\.1:\d+\/sdk$/);
    const ca = readFileSync(vc.caFile);
    const body = soapEnvelope('<urn:RetrieveServiceContent><urn:_this type="ServiceInstance">ServiceInstance</urn:_this></urn:RetrieveServiceContent>');
    const text = await new Promise((resolve, reject) => {
      const req = httpsRequest(vc.url, { method: 'POST', ca, headers: { 'content-type': 'text/xml' } }, (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (t += d));
        res.on('end', () => resolve(t));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.match(text, /<about>/);
    await vc.control('/vm/poweroff?name=DC0_H0_VM0');
    assert.equal(last(await vc.events(1)).class, 'VmPoweredOffEvent');
  } finally {
    await vc.stop();
  }
}

async function testStopKillsProcess() {
  const vc = await startVcsim();
  await vc.stop();
  assert.throws(() => process.kill(vc.pid, 0));
}

buildVcsim();
for (const t of [testEventsAndVms, testRestart, testRestartRefusesWhileDown, testTls, testStopKillsProcess]) {
  const t0 = performance.now();
  await t();
  console.log(`ok ${t.name} (${(performance.now() - t0).toFixed(0)} ms)`);
}
