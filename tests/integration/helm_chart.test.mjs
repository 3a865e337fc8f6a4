// The Helm chart deploy/helm/event-router: helm lint, helm template for every provider x
// processor and for VEBA's own values files (tests/fixtures/veba-chart), every rendered object
// validated against the Kubernetes API schema (kubernetes-models), and the RouterConfig the
// chart puts in its Secret checked by the real binary's check-config.
// helm and kubernetes-models are installed by tools/setup.sh under deploy/node_modules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { BIN, SOURCE_DIR, makeTmpDir } from './lib.mjs';


const DEPLOY = path.join(SOURCE_DIR, 'deploy');
const CHART = path.join(DEPLOY, 'helm', 'event-router');
const FIXTURES = path.join(SOURCE_DIR, 'tests', 'fixtures', 'veba-chart');
const HELM = path.join(DEPLOY, 'node_modules', '.helm', 'helm');
const requireDeploy = createRequire(path.join(DEPLOY, 'package.json'));
const YAML = requireDeploy('yaml');

const PROVIDERS = ['vcenter', 'webhook', 'horizon'];
const PROCESSORS = ['openfaas', 'knative', 'aws_event_bridge'];

function helm(...args) {
  const run = spawnSync(HELM, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`helm ${args.join(' ')} failed:\n${run.stdout}${run.stderr}`);
  return run.stdout;
}

function render({ values = [], set = {}, release = 'router', namespace = 'vmware-system' } = {}) {
  const args = ['template', release, CHART, '--namespace', namespace];
  for (const file of values) args.push('-f', file);
  for (const [key, value] of Object.entries(set)) args.push('--set', `${key}=${value}`);
  return YAML.parseAllDocuments(helm(...args))
    .map((doc) => doc.toJS())
    .filter(Boolean);
}

// apiVersion "apps/v1" -> kubernetes-models/apps/v1/Deployment; "v1" -> kubernetes-models/v1/Secret.
async function validate(object) {
  const where = `${object.kind} ${object.metadata?.name}`;
  if (object.apiVersion === 'monitoring.coreos.com/v1') {
    // Not in kubernetes-models (a prometheus-operator CRD): its few fields are checked by hand.
    assert.equal(object.kind, 'ServiceMonitor', where);
    assert.ok(object.spec.selector.matchLabels, `${where}: spec.selector.matchLabels`);
    assert.equal(object.spec.endpoints[0].port, 'metrics', `${where}: endpoint port`);
    return;
  }
  const file = path.join(DEPLOY, 'node_modules', 'kubernetes-models', object.apiVersion, `${object.kind}.js`);
  assert.ok(fs.existsSync(file), `${where}: kubernetes-models has no schema for ${object.apiVersion}`);
  const module = await import(pathToFileURL(file).href);
  const Model = module[object.kind] ?? module.default;
  assert.ok(Model, `${where}: no schema for ${object.apiVersion}`);
  try {
    new Model(object).validate();
  } catch (err) {
    assert.fail(`${where} does not validate against the Kubernetes API schema: ${err.message}`);
  }
}

function find(objects, kind) {
  return objects.filter((o) => o.kind === kind);
}

// The router's workload: a Deployment, or a StatefulSet when leader election runs replicas side by side.
function workload(objects) {
  return objects.find((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
}

function routerConfigText(objects) {
  const [secret] = find(objects, 'Secret');
  const args = workload(objects).spec.template.spec.containers[0].args;
  const file = path.basename(args[args.indexOf('-config') + 1]);
  assert.ok(secret.data[file], `the Secret holds ${file}, the file -config names`);
  return Buffer.from(secret.data[file], 'base64').toString('utf8');
}

// check-config on the rendered config; the ConfigMap's scripts, if any, are written to a folder
// that stands in for the mount so their loading is checked too.
function checkConfig(objects, label) {
  const dir = makeTmpDir('helm-chart-');
  let text = routerConfigText(objects);
  const [scripts] = find(objects, 'ConfigMap');
  if (scripts) {
    const scriptsDir = path.join(dir, 'scripts');
    fs.mkdirSync(scriptsDir);
    for (const [name, source] of Object.entries(scripts.data)) fs.writeFileSync(path.join(scriptsDir, name), source);
    text = text.replace('dir: /etc/event-router/scripts', `dir: ${scriptsDir}`);
  }
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, text);
  const run = spawnSync(BIN, ['check-config', file], { encoding: 'utf8' });
  assert.equal(run.status, 0, `${label}: check-config refused the rendered RouterConfig:\n${run.stderr}\n${text}`);
  return YAML.parse(routerConfigText(objects));
}

async function renderAndCheck(label, options, { checkConfigToo = true } = {}) {
  const objects = render(options);
  assert.ok(objects.length >= 4, `${label}: rendered ${objects.length} objects`);
  for (const object of objects) await validate(object);
  const config = checkConfigToo ? checkConfig(objects, label) : YAML.parse(routerConfigText(objects));
  return { objects, config };
}

test('helm lint passes with the defaults and with each of VEBA values files', () => {
  helm('lint', '--strict', CHART);
  for (const file of fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml')))
    helm('lint', '--strict', CHART, '-f', path.join(FIXTURES, file));
});

test('every provider x processor renders, validates and passes check-config', async () => {
  for (const provider of PROVIDERS) {
    for (const processor of PROCESSORS) {
      const label = `${provider} x ${processor}`;
      const { objects, config } = await renderAndCheck(label, {
        set: { 'eventrouter.eventProvider': provider, 'eventrouter.eventProcessor': processor },
      });
      assert.equal(config.eventProvider.type, provider, label);
      assert.equal(config.eventProcessor.type, processor, label);
      const settings = config.eventProvider[provider];
      if (provider !== 'webhook') {
        assert.equal(settings.checkpoint, true, `${label}: checkpoints on (VEBA's chart forces false)`);
        assert.equal(settings.checkpointDir, '/var/lib/event-router/checkpoints', label);
      }
      assert.equal(config.queue.type, 'disk', label);
      assert.equal(config.queue.dir, '/var/lib/event-router/queue', label);
      const [deployment] = find(objects, 'Deployment');
      const container = deployment.spec.template.spec.containers[0];
      assert.equal(container.livenessProbe.httpGet.path, '/healthz', label);
      assert.equal(container.readinessProbe.httpGet.path, '/readyz', label);
      const volumes = Object.fromEntries(deployment.spec.template.spec.volumes.map((v) => [v.name, v]));
      assert.equal(volumes.state.persistentVolumeClaim.claimName, 'router-state', `${label}: state on the PVC`);
      assert.equal(find(objects, 'PersistentVolumeClaim').length, 1, label);
      const annotations = deployment.spec.template.metadata.annotations;
      assert.equal(annotations['prometheus.io/scrape'], 'true', label);
      assert.equal(annotations['prometheus.io/port'], '8082', label);
      assert.ok(container.env.some((e) => e.name === 'POD_NAME' && e.valueFrom.fieldRef.fieldPath === 'metadata.name'), label);
      assert.equal(container.securityContext.readOnlyRootFilesystem, true, label);
      assert.equal(find(objects, 'Role').length, 0, `${label}: no leader-election Role by default`);
      assert.equal(config.leaderElection, undefined, label);
    }
  }
});

test("VEBA's own values files render unchanged into VEBA's container arguments", async () => {
  const veba = path.join(FIXTURES, 'values.yaml');
  {
    const { objects, config } = await renderAndCheck('VEBA values.yaml', { values: [veba] });
    const container = find(objects, 'Deployment')[0].spec.template.spec.containers[0];
    assert.deepEqual(container.args, ['-config', '/etc/vmware-event-router/config.yaml', '-log-level', 'info']);
    assert.equal(container.image, 'vmware/veba-event-router:0.1.0');
    assert.equal(find(objects, 'Secret')[0].metadata.name, 'router-config');
    assert.equal(find(objects, 'ServiceAccount')[0].metadata.name, 'vmware-event-router');
    assert.equal(config.eventProcessor.openfaas.auth.basicAuth.password, 'ReplaceMe');
  }
  {
    const { config } = await renderAndCheck('VEBA override-knative.yaml', {
      values: [veba, path.join(FIXTURES, 'override-knative.yaml')],
    });
    assert.equal(config.eventProvider.vcenter.insecureSSL, true);
    assert.equal(config.eventProcessor.knative.destination.ref.kind, 'Broker');
  }
  {
    const { objects, config } = await renderAndCheck('override-webhook-openfaas.yaml', {
      values: [path.join(FIXTURES, 'override-webhook-openfaas.yaml')],
    });
    const container = find(objects, 'Deployment')[0].spec.template.spec.containers[0];
    assert.deepEqual(container.args.slice(-1), ['-log-json']);
    assert.equal(config.eventProcessor.openfaas.auth.basicAuth.password, 'P@ss: word #1', 'a password with YAML syntax stays a string');
    assert.ok(find(objects, 'Service')[0].spec.ports.some((p) => p.name === 'webhook' && p.port === 8080));
  }
});

test('scripts come from a ConfigMap mounted at scripts.dir, and a change rolls the pods', async () => {
  const source = fs.readFileSync(path.join(SOURCE_DIR, 'scripts', '10-drop-noise.disabled.lua'), 'utf8');
  const dir = makeTmpDir('helm-values-');
  const values = path.join(dir, 'scripts.yaml');
  fs.writeFileSync(values, YAML.stringify({ eventrouter: { scripts: { '10-drop-noise.lua': source } } }));
  const { objects, config } = await renderAndCheck('scripts', { values: [values] });
  const [configMap] = find(objects, 'ConfigMap');
  assert.equal(configMap.data['10-drop-noise.lua'], source);
  assert.equal(config.scripts.dir, '/etc/event-router/scripts');
  const pod = find(objects, 'Deployment')[0].spec.template;
  const mount = pod.spec.containers[0].volumeMounts.find((m) => m.name === 'scripts');
  assert.equal(mount.mountPath, '/etc/event-router/scripts');
  const before = render().find((o) => o.kind === 'Deployment').spec.template.metadata.annotations;
  assert.notEqual(pod.metadata.annotations['checksum/scripts'], before['checksum/scripts']);
});

test('the optional parts: ServiceMonitor, no persistence, console off, IAM role auth', async () => {
  const { objects, config } = await renderAndCheck('options', {
    set: {
      'eventrouter.metrics.serviceMonitor.enabled': 'true',
      'eventrouter.persistence.enabled': 'false',
      'eventrouter.console.enabled': 'false',
      'eventrouter.eventProcessor': 'aws_event_bridge',
      'eventrouter.awsEventBridge.authType': 'aws_iam_role',
    },
  });
  assert.equal(find(objects, 'ServiceMonitor').length, 1);
  assert.equal(find(objects, 'PersistentVolumeClaim').length, 0);
  const volumes = find(objects, 'Deployment')[0].spec.template.spec.volumes;
  assert.deepEqual(volumes.find((v) => v.name === 'state').emptyDir, {});
  assert.equal(config.console, undefined);
  assert.deepEqual(config.eventProcessor.awsEventBridge.auth, { type: 'aws_iam_role' });
});

test('a provider the router lacks is a clear helm error', () => {
  assert.throws(() => render({ set: { 'eventrouter.eventProvider': 'kafka' } }), /eventProvider must be vcenter, webhook or horizon/);
});

// The HA combination goes through check-config like every other: the router reads
// leaderElection and checkpointStore (README, High availability).
test('leader election: Role and RoleBinding, the config keys, POD_NAME', async () => {
  const set = { 'eventrouter.leaderElection.enabled': 'true', 'eventrouter.eventProvider': 'vcenter' };
  helm('lint', '--strict', CHART, '--set', 'eventrouter.leaderElection.enabled=true');
  const { objects, config } = await renderAndCheck('leader election', { set, release: 'ha', namespace: 'veba' });
  assert.deepEqual(config.leaderElection, { leaseName: 'ha', leaseNamespace: 'veba' });
  assert.deepEqual(config.checkpointStore, { type: 'configmap', name: 'ha-checkpoints' });
  const [role] = find(objects, 'Role');
  const rule = (group, resource) => role.rules.find((r) => r.apiGroups.includes(group) && r.resources.includes(resource));
  assert.deepEqual(rule('coordination.k8s.io', 'leases').verbs, ['get', 'create', 'update']);
  assert.deepEqual(rule('', 'configmaps').verbs, ['get', 'create', 'update']);
  const [binding] = find(objects, 'RoleBinding');
  assert.equal(binding.roleRef.name, role.metadata.name);
  assert.deepEqual(binding.subjects[0], { kind: 'ServiceAccount', name: 'vmware-event-router', namespace: 'veba' });
  // Two replicas side by side: a StatefulSet with a state claim per pod, no shared claim.
  const [set2] = find(objects, 'StatefulSet');
  assert.ok(set2, 'leader election renders a StatefulSet');
  assert.equal(find(objects, 'Deployment').length, 0);
  assert.equal(find(objects, 'PersistentVolumeClaim').length, 0, 'no claim shared by the replicas');
  assert.equal(set2.spec.volumeClaimTemplates[0].metadata.name, 'state');
  assert.ok(!set2.spec.template.spec.volumes.some((v) => v.name === 'state'));
  const two = await renderAndCheck('leader election, 2 replicas', { set: { ...set, replicaCount: '2' }, release: 'ha', namespace: 'veba' });
  assert.equal(find(two.objects, 'StatefulSet')[0].spec.replicas, 2);
});
