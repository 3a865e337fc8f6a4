// Starts the vCenter simulator peer (tests/peers/vcsim, built by
// tools/build-vcsim.sh) and wraps its control API for tests.
//
//   const vc = await startVcsim({ tls: false });
//   vc.url, vc.username, vc.password          // for event-router's config
//   await vc.control('/vm/poweroff?name=DC0_H0_VM0');
//   await vc.control('/event/post', { kind: 'EventEx', eventTypeId: 'x', message: 'm' });
//   const events = await vc.events(10);       // [{class, key, json}], oldest first
//   await vc.stop();
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const READY_TIMEOUT_MS = 15000;
const CONTROL_TIMEOUT_MS = 60000;

export function vcsimBinary() {
  return process.env.EVENT_ROUTER_VCSIM_BIN || join(repoRoot, 'build-vcsim', 'vcsim');
}

// Builds the peer if needed (silent and fast when up to date).
export function buildVcsim() {
  execFileSync(join(repoRoot, 'tools', 'build-vcsim.sh'), { stdio: ['ignore', 'inherit', 'inherit'] });
}

export async function startVcsim({ tls = false, port = 0, lifetimeSeconds = 600, login = null } = {}) {
  const bin = vcsimBinary();
  const certDir = tls ? mkdtempSync(join(tmpdir(), 'vcsim-cert-')) : null;
  const args = ['-exit-on-stdin-eof', `-lifetime=${lifetimeSeconds}s`, `-port=${port}`];
  if (login) args.push(`-username=${login.username}`, `-password=${login.password}`);
  let cert = null;
  if (tls) {
    const out = execFileSync(bin, ['-gen-cert', certDir], { encoding: 'utf8' });
    cert = JSON.parse(out);
    args.push(`-tls-cert=${cert.cert}`, `-tls-key=${cert.key}`);
  }

  // stdin stays an open pipe: if this process dies, the peer sees EOF and exits.
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    if (stderr.length < 16384) stderr += d;
  });
  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));

  let ready;
  try {
    ready = await readyLine(child, exited, () => stderr);
  } catch (err) {
    child.kill('SIGKILL');
    if (certDir) rmSync(certDir, { recursive: true, force: true });
    throw err;
  }

  async function control(path, body) {
    const init = { method: 'POST', signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS) };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const res = await fetch(ready.control + path, init);
    const json = await res.json();
    if (!res.ok) throw new Error(`vcsim ${path}: HTTP ${res.status} ${json.error || ''}`);
    return json;
  }

  async function get(path) {
    const res = await fetch(ready.control + path, { signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS) });
    const json = await res.json();
    if (!res.ok) throw new Error(`vcsim ${path}: HTTP ${res.status} ${json.error || ''}`);
    return json;
  }

  let stopped = null;
  function stop() {
    if (!stopped) {
      stopped = (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        if (certDir) rmSync(certDir, { recursive: true, force: true });
      })();
    }
    return stopped;
  }

  return {
    url: ready.url,
    username: ready.username,
    password: ready.password,
    caFile: cert ? cert.cert : null,
    controlUrl: ready.control,
    pid: ready.pid,
    control,
    get,
    events: (max = 100) => get(`/events?max=${max}`),
    vms: () => get('/vms'),
    stop,
  };
}

function readyLine(child, exited, stderr) {
  return new Promise((resolvePromise, reject) => {
    let buf = '';
    let done = false;
    const timer = setTimeout(() => reject(new Error(`vcsim not ready after ${READY_TIMEOUT_MS} ms: ${stderr()}`)), READY_TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      if (done) return;
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      done = true;
      clearTimeout(timer);
      try {
        resolvePromise(JSON.parse(buf.slice(0, nl)));
      } catch (err) {
        reject(new Error(`vcsim: bad ready line ${JSON.stringify(buf.slice(0, nl))}`));
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`vcsim exited (${code ?? signal}) before ready: ${stderr()}`));
    });
  });
}
