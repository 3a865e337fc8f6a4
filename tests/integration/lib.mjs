// Harness of the integration tests: free ports, temporary directories, RouterConfig files, and the
// real event-router binary ($EVENT_ROUTER_BIN) run as a child process. Every process and directory
// made here is registered and removed by cleanup() (tests call it from after()), and again when
// node exits, so a failing test leaves nothing behind. Every wait is bounded.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from '../peers/send.mjs';
import { start as startSink } from '../peers/sink.mjs';

export { request, postEvents, vcenterEvent, encode, basicAuth, SUBJECTS, MORE_SUBJECTS } from '../peers/send.mjs';
export { eventData } from '../peers/sink.mjs';
export { startSink };

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = process.env.EVENT_ROUTER_SOURCE_DIR ?? path.resolve(here, '..', '..');
export const BIN = process.env.EVENT_ROUTER_BIN ?? path.join(SOURCE_DIR, 'build', 'event-router');

const children = new Set();
const tmpDirs = new Set();

process.on('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/* Ports handed out by this process: the kernel may give a just-closed port again to the next
 * listen(0), and two of ours (a webhook and a metrics server) must never share one. */
const handedOut = new Set();

/** A port that was free a moment ago and not given to this test before: listen on 0, read, close. */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export function makeTmpDir(prefix = 'event-router-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(dir);
  return dir;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An error that ends a waitFor at once instead of being retried (e.g. the router died). */
export function fatal(message) {
  return Object.assign(new Error(message), { fatal: true });
}

/** Polls predicate (may be async) until it returns a truthy value, which is returned. */
export async function waitFor(predicate, { timeout = 10_000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value;
    } catch (err) {
      if (err?.fatal) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail}`);
    }
    await sleep(interval);
  }
}

function yamlScalar(value) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = String(value);
  // Plain scalars where YAML reads them back as the same string, as a person would write them.
  const plain = /^[A-Za-z0-9_./@-][A-Za-z0-9_./:@-]*$/.test(text) &&
    !/^(true|false|yes|no|on|off|null|~|[-+]?[0-9.]+(e[-+]?[0-9]+)?)$/i.test(text);
  return plain ? text : JSON.stringify(text); // else a YAML double-quoted scalar
}

/** A small YAML emitter (block style) for config objects: maps, lists and scalars. */
export function toYaml(value, indent = 0) {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}[]\n`;
    return value
      .map((item) => {
        if (item && typeof item === 'object') {
          const inner = toYaml(item, indent + 2);
          return `${pad}- ${inner.slice(indent + 2)}`;
        }
        return `${pad}- ${yamlScalar(item)}\n`;
      })
      .join('');
  }
  let out = '';
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (v && typeof v === 'object' && (Array.isArray(v) ? v.length : Object.keys(v).length)) {
      out += `${pad}${key}:\n${toYaml(v, indent + 2)}`;
    } else if (v && typeof v === 'object') {
      out += `${pad}${key}: ${Array.isArray(v) ? '[]' : '{}'}\n`;
    } else {
      out += `${pad}${key}: ${yamlScalar(v)}\n`;
    }
  }
  return out;
}

/** The webhook eventProvider block of a YAML config (no final newline): 127.0.0.1:port, path
 * /webhook. */
export const webhookProviderYaml = (port) => `eventProvider:
  type: webhook
  name: hook
  webhook:
    bindAddress: 127.0.0.1:${port}
    path: /webhook`;

/** The default metricsProvider block of a YAML config (no final newline), on 127.0.0.1:port. */
export const metricsProviderYaml = (port) => `metricsProvider:
  type: default
  name: metrics
  default:
    bindAddress: 127.0.0.1:${port}`;

/** Writes a config (object -> YAML, or YAML text as is) into dir; returns its path. */
export function writeConfig(config, dir = makeTmpDir(), name = 'config.yaml') {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof config === 'string' ? config : toYaml(config));
  return file;
}

/**
 * A complete RouterConfig: webhook -> knative sink, metrics and dead letters on given ports/dirs.
 * o: webhookPort, metricsPort, sinkUrl, deadLetterDir, encoding, auth {username, password},
 *    maxBodySize, webhook {...} (more webhook keys), delivery {...} (merged over fast test
 *    defaults), queue {...}, filter (the processor's).
 */
export function routerConfig(o) {
  const webhook = { bindAddress: `127.0.0.1:${o.webhookPort}`, path: o.path ?? '/webhook' };
  if (o.auth) webhook.auth = { type: 'basic_auth', basicAuth: { username: o.auth.username, password: o.auth.password } };
  if (o.maxBodySize) webhook.maxBodySize = o.maxBodySize;
  Object.assign(webhook, o.webhook ?? {}); // any other webhook keys (limits, timeouts)
  return {
    apiVersion: 'event-router.vmware.com/v1alpha1',
    kind: 'RouterConfig',
    metadata: { name: o.name ?? 'integration-test' },
    eventProvider: { type: 'webhook', name: o.providerName ?? 'hook', webhook },
    eventProcessor: {
      type: 'knative',
      name: o.processorName ?? 'sink',
      filter: o.filter, // {eventPattern: ...}; left out when undefined
      knative: { encoding: o.encoding ?? 'binary', destination: { uri: o.sinkUrl } },
    },
    metricsProvider: { type: 'default', name: 'metrics', default: { bindAddress: `127.0.0.1:${o.metricsPort}` } },
    deadLetter: { dir: o.deadLetterDir },
    delivery: {
      timeout: '2s',
      connectTimeout: '1s',
      retries: 10,
      backoffInitial: '100ms',
      backoffMax: '2s',
      maxInFlight: 64,
      ...(o.delivery ?? {}),
    },
    queue: { capacity: 10000, ...(o.queue ?? {}) },
  };
}

/** Runs the binary to completion (CLI tests), with input on its stdin when given. Resolves
 * {code, signal, stdout, stderr}. */
export function runBinary(args, { timeout = 10_000, env, input } = {}) {
  return new Promise((resolve, reject) => {
    const stdin = input === undefined ? 'ignore' : 'pipe';
    const child = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] });
    if (input !== undefined) child.stdin.end(input);
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', (err) => {
      clearTimeout(timer);
      children.delete(child);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `event-router console` with commands piped on stdin; resolves {code, stdout, stderr},
 * rejects when it has not ended after timeout ms. */
export function consoleRun(socket, commands, timeout = 15_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['console', '--socket', socket], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`console timed out; stdout: ${stdout}; stderr: ${stderr}`));
    }, timeout);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(commands.join('\n') + '\n');
  });
}

/**
 * Starts the router on a config. opts.metricsPort enables waitReady (GET /readyz until 200).
 * Returns {proc, stderr(), stdout(), metricsUrl, waitReady(timeout), stop(signal, timeout)}.
 */
export function startRouter(configPath, args = [], opts = {}) {
  const child = spawn(BIN, ['-config', configPath, ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (process.env.EVENT_ROUTER_TEST_VERBOSE) process.stderr.write(d);
  });
  child.stdout.on('data', (d) => (stdout += d));
  let exited = null;
  const exit = new Promise((resolve) => {
    child.on('error', (err) => {
      exited = { code: null, signal: null, error: err };
      children.delete(child);
      resolve(exited);
    });
    child.on('close', (code, signal) => {
      exited = { code, signal };
      children.delete(child);
      resolve(exited);
    });
  });
  const metricsUrl = opts.metricsPort ? `http://127.0.0.1:${opts.metricsPort}` : undefined;

  const router = {
    proc: child,
    pid: child.pid,
    metricsUrl,
    stderr: () => stderr,
    stdout: () => stdout,
    get exited() {
      return exited;
    },
    async waitReady(timeout = 10_000) {
      if (!metricsUrl) throw new Error('waitReady needs opts.metricsPort');
      await waitFor(
        async () => {
          if (exited) throw fatal(`router exited (${JSON.stringify(exited)}) before ready`);
          const r = await request(`${metricsUrl}/readyz`, { method: 'GET', timeoutMs: 1000 });
          return r.status === 200;
        },
        { timeout, what: `router readiness on ${metricsUrl}/readyz` },
      ).catch((err) => {
        throw new Error(`${err.message}\nrouter stderr:\n${stderr}`);
      });
      return router;
    },
    /** Signals the router and waits for it; SIGKILL after timeout. Resolves {code, signal}. */
    async stop(signal = 'SIGTERM', timeout = 15_000) {
      if (exited) return exited;
      child.kill(signal);
      let timer;
      const killed = new Promise((resolve) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, timeout);
      });
      await Promise.race([exit, killed]);
      clearTimeout(timer);
      return exit;
    },
    exit,
  };
  return router;
}

/**
 * A router on a YAML config of the test's own (the processor tests' VEBA files): a temporary
 * folder with a deadletter/ folder in it, two free ports, and configYaml({webhookPort,
 * metricsPort, deadLetterDir}) written there. Returns once the router answers /readyz (until:
 * 'ready'), /healthz ('up') or at once ('started'). Returns {router, dir, configPath,
 * deadLetterDir, webhookUrl, metricsUrl, cleanup()}.
 */
export async function startYamlStack(configYaml, { env, until = 'ready' } = {}) {
  const dir = makeTmpDir();
  const deadLetterDir = path.join(dir, 'deadletter');
  fs.mkdirSync(deadLetterDir);
  const [webhookPort, metricsPort] = [await freePort(), await freePort()];
  const configPath = writeConfig(configYaml({ webhookPort, metricsPort, deadLetterDir }), dir);
  const router = startRouter(configPath, [], { metricsPort, env });
  if (until === 'ready') await router.waitReady(10_000);
  else if (until === 'up') await waitFor(async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`).catch(() => null))?.status === 200, { timeout: 10_000, what: 'router up' });
  return {
    router,
    dir,
    configPath,
    deadLetterDir,
    webhookUrl: `http://127.0.0.1:${webhookPort}/webhook`,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    async cleanup() {
      await router.stop('SIGTERM', 10_000).catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One router + one sink, wired through a generated config, ready to take events. Returns
 * {router, sink, webhookUrl, metricsUrl, dir, deadLetterDir, configPath, cleanup()}.
 * o: sink options (sink: {...}), plus routerConfig options (encoding, auth, delivery, ...).
 */
export async function startStack(o = {}) {
  const dir = makeTmpDir();
  const sink = await startSink(o.sink ?? {});
  const [webhookPort, metricsPort] = [await freePort(), await freePort()];
  const deadLetterDir = path.join(dir, 'deadletter');
  fs.mkdirSync(deadLetterDir);
  const configPath = writeConfig(routerConfig({ ...o, webhookPort, metricsPort, sinkUrl: sink.url, deadLetterDir }), dir);
  const router = startRouter(configPath, o.args ?? [], { metricsPort });
  const stack = {
    router,
    sink,
    dir,
    configPath,
    deadLetterDir,
    webhookUrl: `http://127.0.0.1:${webhookPort}${o.path ?? '/webhook'}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    async cleanup() {
      await router.stop('SIGTERM', 10_000).catch(() => {});
      await sink.close().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
      tmpDirs.delete(dir);
    },
  };
  try {
    await router.waitReady(o.readyTimeout ?? 10_000);
  } catch (err) {
    await stack.cleanup();
    throw err;
  }
  return stack;
}

/** Reads a dead-letter file (JSON lines); [] when it does not exist. */
export function readDeadLetters(file) {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

/** Parses Prometheus text: [{name, labels: {...}, value}] and types {name: type}. */
export function parsePrometheus(text) {
  const samples = [];
  const types = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const typeMatch = /^# TYPE (\S+) (\S+)/.exec(line);
    if (typeMatch) {
      types[typeMatch[1]] = typeMatch[2];
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`bad Prometheus line: ${line}`);
    const labels = {};
    if (m[3]) for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return { samples, types };
}

/** Sum of a counter's samples (over all label sets); undefined when absent. */
export function metricValue(parsed, name) {
  const found = parsed.samples.filter((s) => s.name === name);
  if (!found.length) return undefined;
  return found.reduce((a, s) => a + s.value, 0);
}

/**
 * A complete RouterConfig: vCenter source -> knative sink (for the vCenter integration tests).
 * o: address, username, password, checkpointDir (falsy: checkpoints off), eventFormat,
 *    maxReplayAge, caFile, insecureSSL, metricsPort, sinkUrl, deadLetterDir, delivery {...}.
 */
export function vcenterRouterConfig(o) {
  const vcenter = {
    address: o.address,
    insecureSSL: o.insecureSSL ?? true,
    checkpoint: Boolean(o.checkpointDir),
    checkpointDir: o.checkpointDir || undefined,
    maxReplayAge: o.maxReplayAge,
    eventFormat: o.eventFormat,
    caFile: o.caFile,
    auth: { type: 'basic_auth', basicAuth: { username: o.username, password: o.password } },
  };
  // The same router as routerConfig, with the vCenter source in place of the webhook.
  const config = routerConfig({ ...o, name: o.name ?? 'vcenter-integration-test' });
  config.eventProvider = { type: 'vcenter', name: o.providerName ?? 'vc', vcenter };
  return config;
}
