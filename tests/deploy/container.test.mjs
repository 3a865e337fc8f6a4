// The container image (deploy/container/Containerfile), built here by tools/build-image.sh and
// run with podman: check-config on VEBA's config at VEBA's path, then a webhook -> Knative round
// trip through the container (host network, read-only root filesystem, state in a volume) to the
// CloudEvents sink on the host, then SIGTERM -> exit 0. Registered for the release build only
// (tests/CMakeLists.txt): the image builds its own binary from the sources, the same for both.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  SOURCE_DIR, freePort, makeTmpDir, postEvents, request, routerConfig, startSink, toYaml, vcenterEvent, waitFor,
} from '../integration/lib.mjs';

const IMAGE = 'localhost/event-router:test';
const IMAGE_DIR = process.env.EVENT_ROUTER_IMAGE_DIR ?? path.join(SOURCE_DIR, 'build', 'image');
const env = { ...process.env, CONTAINERS_CONF: path.join(IMAGE_DIR, 'containers.conf') };
const names = new Set();

function podman(...args) {
  return spawnSync('podman', args, { encoding: 'utf8', env, timeout: 120_000 });
}

// Temporary folders are 0700 root's: the image's uid 10001 reads the config as a Secret mount
// would let it.
function readableByTheImagesUser(dir) {
  fs.chmodSync(dir, 0o755);
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644);
}

after(() => {
  for (const name of names) podman('rm', '-f', '-t', '0', name);
});

test('the image builds (tools/build-image.sh) and is small', { timeout: 900_000 }, () => {
  const started = Date.now();
  const run = spawnSync(path.join(SOURCE_DIR, 'tools', 'build-image.sh'), [IMAGE], {
    encoding: 'utf8', env: { ...env, OUT_DIR: IMAGE_DIR }, timeout: 900_000,
  });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  console.log(`# ${run.stdout.trim().split('\n').pop()} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const inspect = JSON.parse(podman('image', 'inspect', IMAGE).stdout)[0];
  assert.equal(inspect.Config.User, '10001:10001', 'runs as a non-root user');
  assert.deepEqual(inspect.Config.Entrypoint, ['/usr/bin/event-router']);
  assert.ok(inspect.Config.Cmd.includes('/etc/vmware-event-router/config'));
  assert.equal(inspect.Config.Labels['org.opencontainers.image.title'], 'event-router');
  assert.ok(inspect.Size < 150e6, `image is ${inspect.Size} bytes`);
  const ls = podman('run', '--rm', '--entrypoint', '/bin/ls', IMAGE, '/usr/share/event-router/scripts');
  assert.match(ls.stdout, /10-drop-noise\.disabled\.lua/, 'the shipped scripts are in the image');
});

test("check-config on VEBA's config at VEBA's path", () => {
  const dir = makeTmpDir('container-config-');
  fs.copyFileSync(path.join(SOURCE_DIR, 'tests', 'configs', 'veba-vcenter-knative.yaml'), path.join(dir, 'config'));
  readableByTheImagesUser(dir);
  const run = podman('run', '--rm', '--read-only', '-v', `${dir}:/etc/vmware-event-router:ro`, IMAGE,
    'check-config', '/etc/vmware-event-router/config');
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /\/etc\/vmware-event-router\/config: OK/);
  const bad = podman('run', '--rm', '-v', `${path.join(SOURCE_DIR, 'tests', 'configs')}:/c:ro`, IMAGE,
    'check-config', '/c/invalid-many.yaml');
  assert.equal(bad.status, 1, 'a bad config fails check-config in the image too');
  assert.match(bad.stderr, /invalid-many\.yaml:\d+:\d+:/);
});

test('webhook -> Knative through the container, then SIGTERM -> exit 0', { timeout: 120_000 }, async () => {
  const sink = await startSink();
  const [webhookPort, metricsPort] = [await freePort(), await freePort()];
  const configDir = makeTmpDir('container-run-');
  const stateDir = makeTmpDir('container-state-');
  // VEBA's relative dead-letter/queue folders: they land in the volume (the working directory).
  const config = routerConfig({ webhookPort, metricsPort, sinkUrl: sink.url, deadLetterDir: './deadletter' });
  fs.writeFileSync(path.join(configDir, 'config'), toYaml(config));
  readableByTheImagesUser(configDir);
  const name = `event-router-test-${process.pid}`;
  names.add(name);
  const child = spawn('podman', ['run', '--name', name, '--network=host', '--read-only',
    '-v', `${configDir}:/etc/vmware-event-router:ro`, '-v', `${stateDir}:/var/lib/event-router:U`,
    IMAGE, '-config', '/etc/vmware-event-router/config', '-log-level', 'debug', '-log-json'], { env });
  let logs = '';
  child.stdout.on('data', (d) => (logs += d));
  child.stderr.on('data', (d) => (logs += d));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(async () => (await request(`http://127.0.0.1:${metricsPort}/readyz`, { method: 'GET' })).status === 200,
      { timeout: 30_000, what: `the router in the container to be ready; logs:\n${logs}` });
    const events = Array.from({ length: 20 }, (_, i) => vcenterEvent(i, { id: `container-${i}` }));
    const responses = await postEvents(`http://127.0.0.1:${webhookPort}/webhook`, events);
    for (const r of responses) assert.ok(r.status >= 200 && r.status < 300, `webhook answered ${r.status}`);
    await waitFor(() => events.every((e) => sink.byId.has(e.id)), { timeout: 20_000, what: 'the events at the sink' });
    assert.equal(sink.byId.get('container-3').subject, events[3].subject);
    assert.ok(logs.split('\n').some((l) => l.startsWith('{') && JSON.parse(l).level), '-log-json gives JSON lines');
    assert.ok(fs.existsSync(path.join(stateDir, 'queue')), 'the disk queue is in the volume');
  } finally {
    podman('kill', '--signal', 'TERM', name);
    const code = await exited;
    await sink.close();
    assert.equal(code, 0, `exit status after SIGTERM; logs:\n${logs}`);
  }
});
