// A fake VMware Horizon Connection Server on 127.0.0.1: the REST calls the router's Horizon source
// makes, answered as the Horizon Server REST API documents them (no Horizon server runs here).
//
//   POST /rest/login    {domain, username, password} -> 200 {access_token, refresh_token};
//                       wrong credentials -> 401
//   POST /rest/refresh  {refresh_token} -> 200 {access_token}; an expired or unknown refresh
//                       token -> 400 (Horizon's answer, after which clients log in again)
//   POST /rest/logout   {refresh_token} -> 200 and the session's tokens stop working; 400 when
//                       the token is unknown or expired
//   GET  /rest/external/v1/audit-events?page=&size=&filter=&sort_by=&order_by=
//                       Authorization: Bearer <access token>; 401 when missing or expired.
//                       filter: {"type":"Between","name":"time","fromValue":a,"toValue":b}
//                       (inclusive) or {"type":"Equals","name":...,"value":...}; default order
//                       newest first, events of one millisecond by ascending id (as real Horizon
//                       answers, see VEBA's testdata/audit_events.golden); page/size must be > 0.
// Tokens are JWTs (iat, exp in seconds, fractions allowed), access and refresh lifetimes
// configurable so tests can make them expire mid-stream.
//
// Module: const hz = await start({users: [{domain, username, password}], accessTtlMs, refreshTtlMs});
//         hz.addEvents(n, {sameMs, type}); hz.startFeed(perSecond, {sameMs}); await hz.stopFeed();
//         hz.expireAccessTokens(); hz.expireAllTokens(); hz.setDown(true|false); hz.counters;
//         hz.events (all, in insertion order); hz.url; await hz.close().
// CLI:    node tests/peers/horizon.mjs --port 8443 [--rate 2] [--domain corp --username administrator
//         --password ReplaceMe]
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const TYPES = [
  ['VLSI_USERLOGGEDIN', 'AUDIT_SUCCESS', 'Vlsi', (u) => `User ${u} has logged in to View Administrator`],
  ['REST_AUTH_LOGIN_SUCCESS', 'AUDIT_SUCCESS', 'Rest', (u) => `User ${u} has logged in to Horizon Server REST API`],
  ['BROKER_USERLOGGEDIN', 'AUDIT_SUCCESS', 'Broker', (u) => `User ${u} has logged in`],
  ['AGENT_CONNECTED', 'INFO', 'Agent', (u) => `User ${u} has logged in to a new session on machine win10-01`],
  ['BROKER_DAILY_MAX_CCU_USERS', 'INFO', 'Broker', () => 'Over the past 24 hours, the maximum number of concurrent connection sessions was 0'],
  ['BROKER_SMALL_MEMORY', 'WARNING', 'Broker', () => 'Broker Horizon-01.corp.local has been detected as being configured with a small amount of physical memory.'],
];

function base64url(text) {
  return Buffer.from(text).toString('base64url');
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, body) {
  if (body === undefined) {
    res.writeHead(status, { 'content-length': 0 });
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function start(options = {}) {
  const host = options.host ?? '127.0.0.1';
  const users = options.users ?? [{ domain: 'corp', username: 'administrator', password: 'ReplaceMe' }];
  let accessTtlMs = options.accessTtlMs ?? 30 * 60 * 1000;
  let refreshTtlMs = options.refreshTtlMs ?? 8 * 60 * 60 * 1000;

  const events = []; // insertion order
  let nextId = options.firstId ?? 98554;
  let lastTime = 0;
  const sessions = new Map(); // refresh token -> {user, refreshExp, alive}
  const accessTokens = new Map(); // access token -> {session, exp}
  const counters = { logins: 0, loginsRefused: 0, refreshes: 0, refreshesRefused: 0, logouts: 0, unauthorized: 0, pages: 0, badRequests: 0 };
  const requests = []; // {method, path, query} of every request, for tests that check the calls
  let eventsDelayMs = options.eventsDelayMs ?? 0; // audit-events answers only after this long
  let eventsPending = 0;

  function token(user, ttlMs, kind) {
    const now = Date.now();
    const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const payload = base64url(JSON.stringify({ sub: `${user.domain}\\${user.username}`, typ: kind, iat: now / 1000, exp: (now + ttlMs) / 1000, jti: crypto.randomUUID() }));
    return `${header}.${payload}.${base64url(crypto.randomBytes(16))}`;
  }

  function newAccess(session) {
    const t = token(session.user, accessTtlMs, 'access');
    accessTokens.set(t, { session, exp: Date.now() + accessTtlMs });
    return t;
  }

  /**
   * Adds n events now; sameMs events share each millisecond (ids in ascending order). joinLast:
   * the first ones share the millisecond of the newest event already there (arriving late within
   * a millisecond a client has already read). time: all at this millisecond (history; not
   * before the newest event already there).
   */
  function addEvents(n, o = {}) {
    const sameMs = Math.max(1, o.sameMs ?? 1);
    const added = [];
    for (let i = 0; i < n; i++) {
      if (o.time !== undefined) lastTime = Math.max(lastTime, o.time);
      else if (i % sameMs === 0 && !(i === 0 && o.joinLast && lastTime)) lastTime = Math.max(Date.now(), lastTime + 1);
      const id = nextId++;
      const [type, severity, module, message] = o.type ? [o.type, 'INFO', 'Broker', () => o.message ?? 'test'] : TYPES[id % TYPES.length];
      const event = { id, type, severity, module, machine_dns_name: 'Horizon-01.corp.local', time: lastTime, message: message('corp\\user' + (id % 7)) };
      if (module === 'Vlsi' || module === 'Agent') event.user_id = 'S-1-5-21-4442515-1634369418-872054540-500';
      if (module === 'Agent') {
        event.desktop_pool_name = 'win10-pool';
        event.machine_id = '3d78ef58-20a6-4f0e-923d-cb61938002bb';
      }
      events.push(event);
      added.push(event);
    }
    return added;
  }

  let feedTimer = null;
  /** Adds events at perSecond (in small batches every 20 ms), sameMs per millisecond. */
  function startFeed(perSecond, o = {}) {
    stopFeed();
    let due = 0;
    let last = Date.now();
    feedTimer = setInterval(() => {
      const now = Date.now();
      due += ((now - last) / 1000) * perSecond;
      last = now;
      const n = Math.floor(due);
      if (n > 0) {
        due -= n;
        addEvents(n, o);
      }
    }, 20);
  }
  function stopFeed() {
    if (feedTimer) clearInterval(feedTimer);
    feedTimer = null;
  }

  function matches(event, filter) {
    if (!filter) return true;
    if (filter.type === 'Between') return event[filter.name] >= filter.fromValue && event[filter.name] <= filter.toValue;
    if (filter.type === 'Equals') return event[filter.name] === filter.value;
    if (filter.type === 'And') return filter.filters.every((f) => matches(event, f));
    throw new Error(`unsupported filter type ${filter.type}`);
  }

  function auditEvents(req, res, url) {
    const auth = req.headers.authorization ?? '';
    const access = accessTokens.get(auth.replace(/^Bearer /, ''));
    if (!access || access.exp <= Date.now() || !access.session.alive) {
      counters.unauthorized++;
      send(res, 401);
      return;
    }
    const q = url.searchParams;
    let filter;
    try {
      filter = q.has('filter') ? JSON.parse(q.get('filter')) : undefined;
      if (filter) matches({}, filter);
    } catch {
      counters.badRequests++;
      send(res, 400, { error_messages: ['invalid filter'] });
      return;
    }
    const page = q.has('page') ? Number(q.get('page')) : 1;
    const size = q.has('size') ? Number(q.get('size')) : 1000;
    if (!Number.isInteger(page) || page <= 0 || !Number.isInteger(size) || size <= 0) {
      counters.badRequests++;
      send(res, 400, { error_messages: ['page and size, if passed, should be > 0'] });
      return;
    }
    const sortBy = q.get('sort_by');
    const ascending = q.get('order_by') === 'ASC';
    const selected = events.filter((e) => matches(e, filter));
    if (sortBy) selected.sort((a, b) => (a[sortBy] < b[sortBy] ? -1 : a[sortBy] > b[sortBy]) * (ascending ? 1 : -1));
    else selected.sort((a, b) => b.time - a.time || a.id - b.id);
    const pageEvents = selected.slice((page - 1) * size, page * size);
    counters.pages++;
    const text = JSON.stringify(pageEvents);
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
    if (page * size < selected.length) headers.HAS_MORE_RECORDS = 'TRUE';
    res.writeHead(200, headers);
    res.end(text);
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://horizon');
    requests.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams) });
    const body = req.method === 'POST' ? await readBody(req) : '';
    let json = {};
    if (body) {
      try {
        json = JSON.parse(body);
      } catch {
        send(res, 400, { error_messages: ['invalid JSON'] });
        return;
      }
    }
    if (req.method === 'POST' && url.pathname === '/rest/login') {
      const user = users.find((u) => u.domain === json.domain && u.username === json.username && u.password === json.password);
      if (!user) {
        counters.loginsRefused++;
        send(res, 401, { error_messages: ['Invalid user credentials'] });
        return;
      }
      counters.logins++;
      const refresh = token(user, refreshTtlMs, 'refresh');
      const session = { user, refreshExp: Date.now() + refreshTtlMs, alive: true };
      sessions.set(refresh, session);
      send(res, 200, { access_token: newAccess(session), refresh_token: refresh });
    } else if (req.method === 'POST' && url.pathname === '/rest/refresh') {
      const session = sessions.get(json.refresh_token);
      if (!session || !session.alive || session.refreshExp <= Date.now()) {
        counters.refreshesRefused++;
        send(res, 400, { error_messages: ['Invalid refresh token'] });
        return;
      }
      counters.refreshes++;
      send(res, 200, { access_token: newAccess(session) });
    } else if (req.method === 'POST' && url.pathname === '/rest/logout') {
      const session = sessions.get(json.refresh_token);
      if (!session || !session.alive || session.refreshExp <= Date.now()) {
        send(res, 400, { error_messages: ['Invalid refresh token'] });
        return;
      }
      session.alive = false;
      counters.logouts++;
      send(res, 200);
    } else if (req.method === 'GET' && url.pathname === '/rest/external/v1/audit-events') {
      if (eventsDelayMs > 0) {
        eventsPending++;
        await new Promise((r) => setTimeout(r, eventsDelayMs));
        eventsPending--;
      }
      auditEvents(req, res, url);
    } else {
      send(res, 404, { error_messages: ['not found'] });
    }
  }

  const sockets = new Set();
  const server = options.tls ? https.createServer(options.tls) : http.createServer();
  server.on('request', (req, res) => {
    handle(req, res).catch(() => send(res, 500));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const port = server.address().port;
  let down = false;

  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    events,
    counters,
    requests,
    addEvents,
    startFeed,
    stopFeed,
    /** Every access token answers 401 from now on (refresh tokens still work). */
    expireAccessTokens() {
      for (const a of accessTokens.values()) a.exp = 0;
    },
    /** Access and refresh tokens all expire: only a full login helps. */
    expireAllTokens() {
      for (const a of accessTokens.values()) a.exp = 0;
      for (const s of sessions.values()) s.refreshExp = 0;
    },
    /** audit-events calls waiting out eventsDelayMs now. */
    get eventsPending() {
      return eventsPending;
    },
    setEventsDelay(ms) {
      eventsDelayMs = ms;
    },
    setTtl(access, refresh) {
      accessTtlMs = access;
      refreshTtlMs = refresh;
    },
    /** Down: the port refuses connections and open ones are dropped; the event store stays. */
    async setDown(value) {
      if (value === down) return;
      down = value;
      if (down) {
        await new Promise((resolve) => {
          server.close(() => resolve());
          for (const s of sockets) s.destroy();
        });
      } else {
        await new Promise((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, host, resolve);
        });
      }
    },
    async close() {
      stopFeed();
      if (down) return;
      await new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8443' },
      rate: { type: 'string', default: '0' },
      domain: { type: 'string', default: 'corp' },
      username: { type: 'string', default: 'administrator' },
      password: { type: 'string', default: 'ReplaceMe' },
    },
  });
  const hz = await start({ port: Number(values.port), users: [{ domain: values.domain, username: values.username, password: values.password }] });
  hz.addEvents(12);
  if (Number(values.rate) > 0) hz.startFeed(Number(values.rate));
  process.stdout.write(`${hz.url}\n`);
}
