// A fake Kubernetes API server for the high-availability tests: the part of the public API the
// router uses, followed exactly (no Kubernetes API server can run here).
//
//   coordination.k8s.io/v1 Lease and v1 ConfigMap: GET, POST (create) and PUT (replace) at
//     /apis/coordination.k8s.io/v1/namespaces/NS/leases[/NAME] and /api/v1/namespaces/NS/configmaps[/NAME]
//   - metadata.resourceVersion: a new opaque string on every write; a PUT whose resourceVersion
//     differs from the stored one gets 409 Conflict (a PUT without one is unconditional, as in the
//     API); POST of an existing name gets 409 AlreadyExists; an unknown object 404 NotFound; a
//     body whose name or namespace differ from the URL 400 BadRequest. Errors are Status objects.
//   - Authorization: Bearer TOKEN; an unknown token gets 401 Unauthorized.
//   - HTTPS with its own CA, generated at start with openssl (ca.crt in each service-account dir).
//
// Control (plain HTTP on another loopback port, for tests): POST /partition?client=ID&mode=hang|fail|off
// makes the API hang (never answer) or fail (503) every request of the client whose token is
// ID's, or serve it again. GET /objects returns what is stored; GET /log the requests seen.
//
//   const api = await startK8sApiFake({ clients: ['router-a', 'router-b'] });
//   api.serviceAccountDir('router-a')   // token, ca.crt, namespace: EVENT_ROUTER_K8S_SERVICEACCOUNT_DIR
//   api.url                             // EVENT_ROUTER_K8S_API_URL
//   await api.partition('router-a', 'hang');
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

const RESOURCES = {
  leases: { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', prefix: '/apis/coordination.k8s.io/v1' },
  configmaps: { group: '', version: 'v1', kind: 'ConfigMap', prefix: '/api/v1' },
};
const MAX_BODY = 3 * 1024 * 1024;

function generateTls(dir) {
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=fake-kubernetes-ca',
    '-keyout', 'ca.key', '-out', 'ca.crt']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=kubernetes', '-keyout', 'server.key', '-out', 'server.csr']);
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1',
    '-extfile', 'san.ext', '-out', 'server.crt']);
  return {
    ca: fs.readFileSync(path.join(dir, 'ca.crt')),
    cert: fs.readFileSync(path.join(dir, 'server.crt')),
    key: fs.readFileSync(path.join(dir, 'server.key')),
  };
}

function status(code, reason, message, details) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code };
}

export async function startK8sApiFake({ clients = [], namespace = 'event-router' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'k8s-api-fake-'));
  const tls = generateTls(dir);
  const tokens = new Map(); // token -> client id
  const saDirs = new Map();
  for (const id of clients) {
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, id);
    const sa = path.join(dir, `sa-${id}`);
    fs.mkdirSync(sa);
    fs.writeFileSync(path.join(sa, 'token'), `${token}\n`);
    fs.writeFileSync(path.join(sa, 'namespace'), namespace);
    fs.copyFileSync(path.join(dir, 'ca.crt'), path.join(sa, 'ca.crt'));
    saDirs.set(id, sa);
  }
  const store = new Map(); // "resource/ns/name" -> object
  let version = 1000;
  const partitions = new Map(); // client id -> 'hang' | 'fail'
  const hung = new Set(); // responses held by a 'hang' partition
  const log = []; // {at, client, method, path, status}

  function send(res, code, body, entry) {
    entry.status = code;
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  async function handle(req, res) {
    const entry = { at: Date.now(), client: null, method: req.method, path: req.url, status: 0 };
    log.push(entry);
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const client = auth ? tokens.get(auth[1]) : undefined;
    if (!client) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'), entry);
    entry.client = client;
    const mode = partitions.get(client);
    if (mode === 'hang') {
      hung.add(res);
      res.on('close', () => hung.delete(res));
      entry.status = 'hung';
      return;
    }
    if (mode === 'fail') return send(res, 503, status(503, 'ServiceUnavailable', 'partitioned by the test'), entry);

    const url = new URL(req.url, 'https://127.0.0.1');
    let m = null;
    let kind = null;
    for (const [resource, info] of Object.entries(RESOURCES)) {
      const re = new RegExp(`^${info.prefix.replace(/\./g, '\\.')}/namespaces/([^/]+)/${resource}(?:/([^/]+))?$`);
      m = re.exec(url.pathname);
      if (m) {
        kind = { resource, ...info };
        break;
      }
    }
    if (!m) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource', {}), entry);
    const [, ns, name] = m;
    const details = { name, group: kind.group || undefined, kind: kind.resource };
    const key = `${kind.resource}/${ns}/${name}`;
    const chunks = [];
    let size = 0;
    for await (const c of req) {
      size += c.length;
      if (size > MAX_BODY) return send(res, 413, status(413, 'RequestEntityTooLarge', 'request is too large'), entry);
      chunks.push(c);
    }
    const text = Buffer.concat(chunks).toString('utf8');

    if (req.method === 'GET' && name) {
      const obj = store.get(key);
      if (!obj) return send(res, 404, status(404, 'NotFound', `${kind.resource}${kind.group ? '.' + kind.group : ''} "${name}" not found`, details), entry);
      return send(res, 200, obj, entry);
    }
    if (req.method !== 'POST' && req.method !== 'PUT')
      return send(res, 405, status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`), entry);
    if ((req.method === 'POST') !== !name)
      return send(res, 405, status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'), entry);
    let body;
    try {
      body = JSON.parse(text);
    } catch (err) {
      return send(res, 400, status(400, 'BadRequest', `the object provided is unrecognized: ${err.message}`), entry);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body) || body.kind !== kind.kind ||
        body.apiVersion !== (kind.group ? `${kind.group}/${kind.version}` : kind.version))
      return send(res, 400, status(400, 'BadRequest', `the object provided is not a ${kind.kind} (${kind.group ? kind.group + '/' : ''}${kind.version})`), entry);
    const meta = body.metadata ?? {};
    const objName = meta.name;
    const targetName = name ?? objName;
    if (!objName || objName !== targetName)
      return send(res, 400, status(400, 'BadRequest', `the name of the object (${objName}) does not match the name on the URL (${targetName})`), entry);
    if (meta.namespace && meta.namespace !== ns)
      return send(res, 400, status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'), entry);
    const objKey = `${kind.resource}/${ns}/${targetName}`;
    const existing = store.get(objKey);
    const objDetails = { ...details, name: targetName };
    if (req.method === 'POST' && existing)
      return send(res, 409, status(409, 'AlreadyExists', `${kind.resource}${kind.group ? '.' + kind.group : ''} "${targetName}" already exists`, objDetails), entry);
    if (req.method === 'PUT') {
      if (!existing) return send(res, 404, status(404, 'NotFound', `${kind.resource}${kind.group ? '.' + kind.group : ''} "${targetName}" not found`, objDetails), entry);
      if (meta.resourceVersion !== undefined && meta.resourceVersion !== existing.metadata.resourceVersion)
        return send(res, 409, status(409, 'Conflict', `Operation cannot be fulfilled on ${kind.resource}${kind.group ? '.' + kind.group : ''} "${targetName}": the object has been modified; please apply your changes to the latest version and try again`, objDetails), entry);
    }
    if (kind.resource === 'leases' && body.spec) {
      for (const f of ['acquireTime', 'renewTime'])
        if (body.spec[f] !== undefined && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(body.spec[f]))
          return send(res, 422, status(422, 'Invalid', `Lease.coordination.k8s.io "${targetName}" is invalid: spec.${f}: Invalid value: not a MicroTime`, objDetails), entry);
    }
    version++;
    const stored = {
      ...body,
      metadata: {
        ...meta,
        name: targetName,
        namespace: ns,
        uid: existing?.metadata.uid ?? randomUUID(),
        creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        resourceVersion: String(version),
      },
    };
    store.set(objKey, stored);
    return send(res, req.method === 'POST' ? 201 : 200, stored, entry);
  }

  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(status(500, 'InternalError', String(err))));
    });
  });
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));

  const control = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (req.method === 'POST' && url.pathname === '/partition') {
      const client = url.searchParams.get('client');
      const mode = url.searchParams.get('mode') ?? 'hang';
      if (mode === 'off') {
        partitions.delete(client);
        for (const r of hung) r.destroy();
      } else partitions.set(client, mode);
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ client, mode }));
    }
    if (req.method === 'GET' && url.pathname === '/objects') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(Object.fromEntries(store)));
    }
    if (req.method === 'GET' && url.pathname === '/log') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(log));
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise((r) => control.listen(0, '127.0.0.1', r));

  const api = {
    url: `https://127.0.0.1:${server.address().port}`,
    controlUrl: `http://127.0.0.1:${control.address().port}`,
    namespace,
    dir,
    log,
    serviceAccountDir: (id) => saDirs.get(id),
    /** The env a router needs to talk to this API as client id. */
    env: (id) => ({ EVENT_ROUTER_K8S_SERVICEACCOUNT_DIR: saDirs.get(id), EVENT_ROUTER_K8S_API_URL: api.url }),
    object: (resource, name, ns = namespace) => store.get(`${resource}/${ns}/${name}`),
    partition(id, mode = 'hang') {
      if (mode === 'off') {
        partitions.delete(id);
        for (const r of hung) r.destroy();
      } else partitions.set(id, mode);
    },
    async close() {
      for (const r of hung) r.destroy();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
      await new Promise((r) => control.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return api;
}

// Run alone: prints the URLs and keeps serving (manual experiments).
if (import.meta.url === `file://${process.argv[1]}`) {
  const api = await startK8sApiFake({ clients: process.argv.slice(2).length ? process.argv.slice(2) : ['a', 'b'] });
  console.log(JSON.stringify({ url: api.url, control: api.controlUrl, dir: api.dir }));
}
