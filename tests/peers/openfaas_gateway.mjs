// A fake OpenFaaS gateway following the public gateway API (docs.openfaas.com, "Gateway REST
// API"): GET /system/namespaces and GET /system/functions?namespace=NS behind basic auth (as a
// real gateway with basic auth enabled), POST /function/NAME[.NS] and /async-function/NAME[.NS]
// without auth (a real gateway does not authenticate invocations). An async call answers 202
// with X-Call-Id and, when the caller sent X-Callback-Url, later POSTs the function's answer
// there with X-Function-Status, X-Call-Id and X-Duration-Seconds. A function without a
// namespace is looked up in the default one (openfaas-fn).
//
// Functions: [{name, namespace, annotations: {topic}, failRate, status, delayMs}] given to
// startOpenFaasGateway or read from a JSON file (re-read on SIGHUP when run on its own:
// `node openfaas_gateway.mjs PORT FILE`). failRate answers 500 at random; status answers that
// status always. Every invocation is recorded in state.invocations.
import http from 'node:http';
import fs from 'node:fs';
import crypto from 'node:crypto';

const DEFAULT_NAMESPACE = 'openfaas-fn';

export async function startOpenFaasGateway({ port = 0, functions = [], username, password, namespaces = true, random = Math.random } = {}) {
  const state = { invocations: [], systemCalls: [], callbacks: [], functions };
  const sockets = new Set();
  let server;

  const authorized = (req) => {
    if (!username) return true;
    const expected = 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64');
    return req.headers.authorization === expected;
  };
  const find = (target) => {
    const dot = target.lastIndexOf('.');
    const [name, ns] = dot > 0 ? [target.slice(0, dot), target.slice(dot + 1)] : [target, DEFAULT_NAMESPACE];
    return state.functions.find((f) => f.name === name && (f.namespace ?? DEFAULT_NAMESPACE) === ns);
  };
  const describe = (f) => ({
    name: f.name,
    image: `functions/${f.name}:latest`,
    namespace: f.namespace ?? DEFAULT_NAMESPACE,
    invocationCount: 0,
    replicas: 1,
    availableReplicas: 1,
    annotations: f.annotations ?? {},
    labels: f.labels ?? {},
  });
  const answerOf = (f) => {
    if (f.status) return f.status;
    if (f.failRate && random() < f.failRate) return 500;
    return 200;
  };

  const handler = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url, 'http://gateway');
      const body = Buffer.concat(chunks);
      if (url.pathname.startsWith('/system/')) {
        state.systemCalls.push({ path: url.pathname, query: url.search, authorization: req.headers.authorization });
        if (!authorized(req)) {
          res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="Restricted"' });
          return res.end('invalid credentials\n');
        }
        if (req.method === 'GET' && url.pathname === '/system/namespaces') {
          if (!namespaces) {
            res.writeHead(404);
            return res.end('404 page not found\n');
          }
          const names = [...new Set(state.functions.map((f) => f.namespace ?? DEFAULT_NAMESPACE))];
          res.writeHead(200, { 'Content-Type': 'application/json' });
          return res.end(JSON.stringify(names.length ? names : [DEFAULT_NAMESPACE]));
        }
        if (req.method === 'GET' && url.pathname === '/system/functions') {
          const ns = url.searchParams.get('namespace');
          const list = state.functions.filter((f) => !ns || (f.namespace ?? DEFAULT_NAMESPACE) === ns);
          res.writeHead(200, { 'Content-Type': 'application/json' });
          return res.end(JSON.stringify(list.map(describe)));
        }
        res.writeHead(404);
        return res.end('404 page not found\n');
      }
      const sync = url.pathname.startsWith('/function/');
      const async = url.pathname.startsWith('/async-function/');
      if (req.method !== 'POST' || (!sync && !async)) {
        res.writeHead(404);
        return res.end('404 page not found\n');
      }
      const target = decodeURIComponent(url.pathname.slice(sync ? '/function/'.length : '/async-function/'.length));
      const f = find(target);
      if (!f) {
        res.writeHead(404);
        return res.end(`error finding function ${target}: not found\n`);
      }
      const status = answerOf(f);
      const record = { function: `${f.name}.${f.namespace ?? DEFAULT_NAMESPACE}`, async, status, headers: req.headers, body: body.toString('utf8'), at: Date.now() };
      state.invocations.push(record);
      // answered: the caller got the answer (a gateway killed mid-call ran the function, but the
      // caller cannot know and must call again).
      record.answered = false;
      res.on('finish', () => (record.answered = true));
      const started = process.hrtime.bigint();
      if (async) {
        const callId = crypto.randomUUID();
        record.callId = callId;
        res.writeHead(202, { 'X-Call-Id': callId });
        res.end();
        const callbackUrl = req.headers['x-callback-url'];
        if (!callbackUrl || f.noCallback) return;
        setTimeout(() => {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const cb = http.request(callbackUrl, { method: 'POST', headers: { 'X-Function-Status': String(status), 'X-Call-Id': callId, 'X-Duration-Seconds': seconds.toFixed(6), 'Content-Type': 'text/plain' } });
          cb.on('response', (r) => { r.resume(); state.callbacks.push({ callId, status, answer: r.statusCode }); });
          cb.on('error', (err) => state.callbacks.push({ callId, status, error: err.message }));
          cb.end(status === 200 ? 'ok' : 'function failed');
        }, f.delayMs ?? 5);
        return;
      }
      setTimeout(() => {
        res.writeHead(status, { 'Content-Type': 'text/plain', 'X-Duration-Seconds': '0.001000' });
        res.end(status === 200 ? 'ok' : `function answered ${status}`);
      }, f.delayMs ?? 0);
    });
  };

  const listen = (p) =>
    new Promise((resolve, reject) => {
      server = http.createServer(handler);
      server.keepAliveTimeout = 60_000;
      server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => resolve(server.address().port));
    });
  const boundPort = await listen(port);
  const gateway = {
    state,
    port: boundPort,
    url: `http://127.0.0.1:${boundPort}`,
    setFunctions(list) {
      state.functions = list;
    },
    /** Stops listening and drops every connection, as a gateway pod going away. */
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
    /** Listens again on the same port. */
    async restart() {
      await listen(boundPort);
    },
    close() {
      return gateway.stop();
    },
  };
  return gateway;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [port, file] = process.argv.slice(2);
  const read = () => JSON.parse(fs.readFileSync(file, 'utf8'));
  const gw = await startOpenFaasGateway({ port: Number(port), functions: read(), username: process.env.GATEWAY_USER, password: process.env.GATEWAY_PASSWORD });
  process.on('SIGHUP', () => gw.setFunctions(read()));
  console.log(`openfaas gateway on ${gw.url}`);
}
