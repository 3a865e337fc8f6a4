// deploy/systemd/event-router.service: systemd-analyze verify (syntax, directives, the
// executable) and systemd-analyze security --offline=true with its exposure score kept low.
// PID 1 here is not systemd, so the unit is checked, not started; the notify protocol it relies
// on (Type=notify, WatchdogSec=) is tested by tests/unit/test_service_notify.c.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, SOURCE_DIR, makeTmpDir } from './lib.mjs';

const UNIT = path.join(SOURCE_DIR, 'deploy', 'systemd', 'event-router.service');
const MAX_EXPOSURE = 1.2; // systemd's scale: 0 (locked down) .. 10 (unprotected); 1.1 today

// The unit names /usr/bin/event-router; verify checks that the executable exists, so a copy
// points at the binary under test.
function unitUnderTest() {
  const dir = makeTmpDir('systemd-unit-');
  const file = path.join(dir, 'event-router.service');
  fs.writeFileSync(file, fs.readFileSync(UNIT, 'utf8').replaceAll('/usr/bin/event-router', BIN));
  return file;
}

function analyze(...args) {
  return spawnSync('systemd-analyze', args, { encoding: 'utf8' });
}

test('systemd-analyze verify accepts the unit', () => {
  const run = analyze('verify', unitUnderTest());
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.equal(run.stderr.trim(), '', `verify warned:\n${run.stderr}`);
});

test(`systemd-analyze security rates the unit at or under ${MAX_EXPOSURE}`, () => {
  const run = analyze('security', '--offline=true', '--no-pager', unitUnderTest());
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const match = run.stdout.match(/Overall exposure level for event-router\.service: ([0-9.]+)/);
  assert.ok(match, run.stdout);
  const score = Number(match[1]);
  console.log(`# exposure ${score}`);
  assert.ok(score <= MAX_EXPOSURE, `exposure ${score} > ${MAX_EXPOSURE}:\n${run.stdout}`);
});

test('the unit keeps the properties the deployment relies on', () => {
  const text = fs.readFileSync(UNIT, 'utf8');
  for (const line of [
    'Type=notify',
    'WatchdogSec=30s',
    'ExecReload=/bin/kill -HUP $MAINPID',
    'DynamicUser=yes',
    'StateDirectory=event-router',
    'ProtectSystem=strict',
    'NoNewPrivileges=yes',
    'ExecStart=/usr/bin/event-router -config /etc/vmware-event-router/config -log-level info',
  ])
    assert.ok(text.split('\n').includes(line), `missing: ${line}`);
});

test('a weakened unit scores worse: the threshold can fail', () => {
  const file = unitUnderTest();
  const weakened = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => !/^(Protect|Private|Restrict|SystemCall|Capability|NoNewPrivileges|DynamicUser)/.test(l))
    .join('\n');
  fs.writeFileSync(file, weakened);
  const run = analyze('security', '--offline=true', '--no-pager', file);
  const score = Number(run.stdout.match(/Overall exposure level for event-router\.service: ([0-9.]+)/)[1]);
  assert.ok(score > MAX_EXPOSURE, `weakened unit scored ${score}`);
});
