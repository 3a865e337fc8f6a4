// The webhook's intake under hostile clients (issue 11), against the real binary on 127.0.0.1:
// strict HTTP/1.1 and strict JSON (400/505 with the reason), authentication on the headers before
// any body byte (401 early, 100 Continue only when the body will be read), a batch that can never
// fit (413), the unauthenticated-body and oversized-body floods (RSS bounded, clean refusals),
// slowloris (closed by the head deadline while /healthz answers and acked events are delivered)
// and file descriptor exhaustion under a low `ulimit -n`. Each attack prints its figures.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  BIN,
  basicAuth,
  encode,
  freePort,
  makeTmpDir,
  request,
  routerConfig,
  sleep,
  startSink,
  startStack,
  vcenterEvent,
  waitFor,
  writeConfig,
} from './lib.mjs';

const AUTH = { username: 'veba', password: 'Intake-Pa55' };
const AUTH_HEADER = basicAuth(AUTH.username, AUTH.password);
const MiB = 1024 * 1024;

function figures(name, values) {
  console.log(`figures ${name}: ${Object.entries(values).map(([k, v]) => `${k}=${v}`).join(' ')}`);
}

function peakRssMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024);
}

/** Parses the first final (non-1xx) answer out of raw bytes; null until it is complete. */
function parseAnswer(raw) {
  let text = raw;
  const informational = [];
  for (;;) {
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const head = text.slice(0, end);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
    if (status >= 100 && status < 200) {
      informational.push(status);
      text = text.slice(end + 4);
      continue;
    }
    const headers = {};
    for (const line of head.split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const body = text.slice(end + 4);
    if (Buffer.byteLength(body) < length) return null;
    return { status, headers, body: body.slice(0, length), informational };
  }
}

/** Sends raw bytes on a new connection; resolves the first final answer, and whether the server
 * then closed the connection. */
function rawRequest(port, bytes, { timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let raw = '';
    let answer = null;
    const timer = setTimeout(() => {
      socket.destroy();
      answer ? resolve({ ...answer, closed: false }) : reject(new Error(`no answer to ${JSON.stringify(bytes.toString().slice(0, 80))}`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d) => {
      raw += d.toString('latin1');
      answer ??= parseAnswer(raw);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      answer ??= parseAnswer(raw);
      answer ? resolve({ ...answer, closed: true }) : reject(new Error(`closed without an answer: ${JSON.stringify(raw)}`));
    });
  });
}

function errorOf(answer) {
  return JSON.parse(answer.body).error;
}

/** A binary-mode head for one event, with extra header lines (each ending in \r\n). */
function binaryHead(port, { id = 'e1', extra = '', body = '{}', contentType = 'application/json', auth = true } = {}) {
  return (
    `POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
    (auth ? `Authorization: ${AUTH_HEADER}\r\n` : '') +
    `ce-specversion: 1.0\r\nce-id: ${id}\r\nce-source: /test\r\nce-type: t\r\n` +
    `Content-Type: ${contentType}\r\n${extra}`
  );
}

describe('strict parsing and early answers', () => {
  let stack;
  let port;
  before(async () => {
    stack = await startStack({ auth: AUTH, queue: { capacity: 50 } });
    port = Number(new URL(stack.webhookUrl).port);
  });
  after(async () => {
    await stack?.cleanup();
  });

  const refusals = [
    ['HTTP/9.9', (p) => `POST /webhook HTTP/9.9\r\nHost: x\r\nContent-Length: 0\r\n\r\n`, 505, /HTTP\/9\.9 is not supported/],
    ['a bare CR ending a header line', (p) => binaryHead(p, { extra: 'Content-Length: 2\rX-Other: y\r\n\r\n' }) + '{}', 400, /bare CR/],
    ['a bare CR ending the head', (p) => binaryHead(p, { extra: 'Content-Length: 2\r\n\r' }) + 'x{}', 400, /bare CR/],
    ['Transfer-Encoding: gzip, chunked', (p) => binaryHead(p, { extra: 'Transfer-Encoding: gzip, chunked\r\n\r\n' }) + '2\r\n{}\r\n0\r\n\r\n', 400, /Transfer-Encoding 'gzip, chunked' is not supported/],
    ['Content-Length with Transfer-Encoding', (p) => binaryHead(p, { extra: 'Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n' }) + '2\r\n{}\r\n0\r\n\r\n', 400, /Content-Length/],
    ['a bare CR in chunked framing', (p) => binaryHead(p, { extra: 'Transfer-Encoding: chunked\r\n\r\n' }) + '2\rx{}\r\n0\r\n\r\n', 400, /bare CR|CRLF/],
    ['a second ce-id header', (p) => binaryHead(p, { extra: 'ce-id: e2\r\nContent-Length: 2\r\n\r\n' }) + '{}', 400, /header 'ce-id' is given more than once/],
    ['NUL as JSON whitespace', (p) => binaryHead(p, { extra: 'Content-Length: 9\r\n\r\n' }) + '{"a":\0 1}', 400, /not valid JSON \(RFC 8259\) at byte 5 \(0x00\): NUL byte/],
    ['a control byte as JSON whitespace', (p) => binaryHead(p, { extra: 'Content-Length: 9\r\n\r\n' }) + '{"a":\x01 1}', 400, /control byte/],
    ['a leading zero in JSON data', (p) => binaryHead(p, { extra: 'Content-Length: 10\r\n\r\n' }) + '{"a": 012}', 400, /leading zero/],
    ['an Expect other than 100-continue', (p) => binaryHead(p, { extra: 'Expect: magic\r\nContent-Length: 2\r\n\r\n' }), 417, /Expect 'magic'/],
  ];
  for (const [name, build, status, reason] of refusals) {
    test(`${status} for ${name}, with the reason`, async () => {
      const answer = await rawRequest(port, Buffer.from(build(port), 'latin1'));
      assert.equal(answer.status, status, answer.body);
      assert.match(errorOf(answer), reason);
    });
  }

  test('a well-formed request on the same server is still taken (202), chunked too', async () => {
    const plain = await rawRequest(port, Buffer.from(binaryHead(port, { id: 'ok-1', extra: 'Content-Length: 8\r\n\r\n' }) + '{"a": 1}'));
    assert.equal(plain.status, 202, plain.body);
    const chunked = await rawRequest(port, Buffer.from(binaryHead(port, { id: 'ok-2', extra: 'Transfer-Encoding: chunked\r\n\r\n' }) + '3\r\n{"a\r\n5\r\n": 1}\r\n0\r\n\r\n'));
    assert.equal(chunked.status, 202, chunked.body);
    await stack.sink.waitUntil((s) => s.byId.has('ok-1') && s.byId.has('ok-2'), 10_000, 'both events');
  });

  test('401 is answered on the headers: the announced body is never read', async () => {
    // 4 MiB announced, none sent: the answer must come anyway, and the connection closes.
    const head = binaryHead(port, { auth: false, extra: `Content-Length: ${4 * MiB}\r\n\r\n` });
    const answer = await rawRequest(port, Buffer.from(head));
    assert.equal(answer.status, 401);
    assert.ok(answer.closed, 'the connection stays open after an early 401');
    assert.ok(answer.headers['www-authenticate']);
  });

  test('100 Continue only when auth and size are right (curl sends Expect)', async () => {
    const dir = makeTmpDir();
    const bodyFile = path.join(dir, 'body.json');
    fs.writeFileSync(bodyFile, JSON.stringify({ blob: 'x'.repeat(200_000) }));
    const curl = (args) =>
      new Promise((resolve) => {
        const child = spawn('curl', ['-sS', '-v', '-o', '/dev/null', '-w', '%{http_code}', ...args]);
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('close', () => resolve({ status: Number(out), continued: /< HTTP\/1\.1 100 Continue/.test(err) }));
      });
    const common = ['-H', 'Expect: 100-continue', '-H', 'ce-specversion: 1.0', '-H', 'ce-source: /curl', '-H', 'ce-type: t', '-H', 'Content-Type: application/json', '--data-binary', `@${bodyFile}`];
    const good = await curl([...common, '-H', 'ce-id: curl-1', '-u', `${AUTH.username}:${AUTH.password}`, stack.webhookUrl]);
    assert.deepEqual(good, { status: 202, continued: true });
    const unauthenticated = await curl([...common, '-H', 'ce-id: curl-2', '-u', `${AUTH.username}:wrong`, stack.webhookUrl]);
    assert.deepEqual(unauthenticated, { status: 401, continued: false });
    const misdirected = await curl([...common, '-H', 'ce-id: curl-3', '-u', `${AUTH.username}:${AUTH.password}`, stack.webhookUrl + '-nope']);
    assert.deepEqual(misdirected, { status: 404, continued: false });
    fs.writeFileSync(bodyFile, JSON.stringify({ blob: 'x'.repeat(5 * MiB) }));
    const tooLarge = await curl([...common, '-H', 'ce-id: curl-4', '-u', `${AUTH.username}:${AUTH.password}`, stack.webhookUrl]);
    assert.deepEqual(tooLarge, { status: 413, continued: false });
    fs.rmSync(dir, { recursive: true, force: true });
    await stack.sink.waitUntil((s) => s.byId.has('curl-1'), 10_000, 'the curl event');
  });

  test('413 for a batch larger than the queue can ever hold; a fitting batch is taken', async () => {
    const post = (events) => {
      const [req] = encode(events, 'batch', events.length);
      return request(stack.webhookUrl, { headers: { ...req.headers, authorization: AUTH_HEADER }, body: req.body });
    };
    const tooMany = await post(Array.from({ length: 51 }, (_, i) => vcenterEvent(i, { id: `big-${i}` })));
    assert.equal(tooMany.status, 413, tooMany.body);
    assert.match(JSON.parse(tooMany.body).error, /batch of 51 events is larger than the queue can ever hold \(50\)/);
    const fits = await post(Array.from({ length: 20 }, (_, i) => vcenterEvent(i, { id: `fit-${i}` })));
    assert.equal(fits.status, 202, fits.body);
  });
});

/** Opens n connections that each announce a body and send it (or part of it) without reading
 * answers. Waits until `answers` of them were answered (bounded: the sender itself is busy
 * copying the bodies, more so next to a sanitizer build), then closes them all and counts the
 * statuses (0: no answer). */
async function bodyFlood(port, n, { auth, announce, send, answers, timeoutMs = 30_000 }) {
  const payload = Buffer.alloc(send, 0x61); // one buffer shared by every socket
  const statuses = new Array(n).fill(0);
  const sockets = [];
  let answered = 0;
  let closed = 0;
  for (let i = 0; i < n; i++) {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    let raw = '';
    socket.on('connect', () => {
      socket.write(binaryHead(port, { id: `flood-${i}`, auth, extra: `Content-Length: ${announce}\r\n\r\n` }));
      socket.write(payload);
    });
    socket.on('data', (d) => {
      if (statuses[i]) return;
      raw += d.toString('latin1');
      statuses[i] = parseAnswer(raw)?.status ?? 0;
      if (statuses[i]) answered++;
    });
    socket.on('error', () => {});
    socket.on('close', () => closed++);
  }
  await waitFor(() => answered >= answers, { timeout: timeoutMs, what: `${answers} answers` }).catch(() => {});
  await sleep(500); // late answers, if any, still count
  for (const s of sockets) s.destroy();
  await waitFor(() => closed === n, { timeout: 10_000, what: 'flood sockets closed' });
  const counts = {};
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
  return counts;
}

/** Posts one event, retrying every non-2xx answer and connection error (bounded); true once a
 * 202 was received (the event is acked), false when it never was. */
async function postUntilAcked(url, id, tries = 40) {
  const [req] = encode([vcenterEvent(0, { id })], 'binary');
  for (let i = 0; i < tries; i++) {
    try {
      const r = await request(url, { headers: { ...req.headers, authorization: AUTH_HEADER }, body: req.body, timeoutMs: 3000 });
      if (r.status === 202) return true;
    } catch {
      // connection refused or reset: retry like a real sender
    }
    await sleep(100);
  }
  return false;
}

describe('body floods', () => {
  let stack;
  let port;
  before(async () => {
    stack = await startStack({ auth: AUTH });
    port = Number(new URL(stack.webhookUrl).port);
  });
  after(async () => {
    await stack?.cleanup();
  });

  test('1,000 unauthenticated connections announcing 4 MiB each: 401 or a clean 503, RSS bounded', async () => {
    const before = peakRssMiB(stack.router.pid);
    const t0 = Date.now();
    const counts = await bodyFlood(port, 1000, { auth: false, announce: 4 * MiB, send: 256 * 1024, answers: 500 });
    const peak = peakRssMiB(stack.router.pid);
    figures('unauthenticated-body flood', { connections: 1000, answers: JSON.stringify(counts), rssBeforeMiB: before, peakRssMiB: peak, seconds: (Date.now() - t0) / 1000 });
    assert.ok(!counts[202] && !counts[400], `unexpected answers ${JSON.stringify(counts)}`);
    assert.ok((counts[401] ?? 0) >= 400, `too few early 401s: ${JSON.stringify(counts)}`);
    assert.ok(peak < before + 64, `peak RSS ${peak} MiB (was ${before} MiB)`);
  });

  test('authenticated connections announcing 4 MiB each: bodies in flight stay under 64 MiB (503 beyond)', async () => {
    const before = peakRssMiB(stack.router.pid);
    const counts = await bodyFlood(port, 200, { auth: true, announce: 4 * MiB, send: 4 * MiB - 1, answers: 184 });
    const peak = peakRssMiB(stack.router.pid);
    figures('authenticated-body flood', { connections: 200, answers: JSON.stringify(counts), rssBeforeMiB: before, peakRssMiB: peak });
    assert.ok((counts[503] ?? 0) >= 150, `too few 503s: ${JSON.stringify(counts)}`);
    assert.ok(peak < before + 64 + 48, `peak RSS ${peak} MiB (was ${before} MiB)`);
    // Afterwards (once the server has seen the flood's connections go) it takes events as usual.
    assert.ok(await postUntilAcked(stack.webhookUrl, 'after-flood'), 'the event after the flood was never taken');
    await stack.sink.waitUntil((s) => s.byId.has('after-flood'), 10_000, 'the event after the flood');
  });
});

describe('slowloris', () => {
  let stack;
  let port;
  before(async () => {
    stack = await startStack({ auth: AUTH, webhook: { headerTimeout: '2s', bodyTimeout: '3s', idleTimeout: '20s' } });
    port = Number(new URL(stack.webhookUrl).port);
  });
  after(async () => {
    await stack?.cleanup();
  });

  test('connections trickling their head or body are closed by the deadline; the rest keeps working', async () => {
    const head = Buffer.from(binaryHead(port, { id: 'slow', extra: 'Content-Length: 2\r\n\r\n' }));
    const closedAfter = [];
    const trickle = (bytes, startAt = 0) => {
      const socket = net.connect(port, '127.0.0.1');
      const opened = Date.now();
      let sent = startAt;
      if (startAt) socket.write(bytes.subarray(0, startAt));
      const timer = setInterval(() => sent < bytes.length && socket.write(bytes.subarray(sent, ++sent)), 500);
      socket.on('error', () => {});
      socket.on('close', () => {
        clearInterval(timer);
        closedAfter.push((Date.now() - opened) / 1000);
      });
      return socket;
    };
    const heads = Array.from({ length: 40 }, () => trickle(head));
    const bodyHead = Buffer.from(binaryHead(port, { id: 'slow-body', extra: 'Content-Length: 40\r\n\r\n' }));
    const bodies = Array.from({ length: 10 }, () => trickle(Buffer.concat([bodyHead, Buffer.from(`{"a": "${'x'.repeat(31)}"}`)]), bodyHead.length));
    // A keep-alive connection that goes idle after a request outlives the head deadline.
    const idle = net.connect(port, '127.0.0.1');
    let idleClosed = false;
    idle.on('close', () => (idleClosed = true));
    idle.on('error', () => {});
    idle.write(binaryHead(port, { id: 'idle-1', extra: 'Content-Length: 2\r\n\r\n' }) + '{}');

    let acked = 0;
    let healthy = 0;
    const ids = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 5000) {
      const id = `during-slowloris-${ids.length}`;
      ids.push(id);
      if (await postUntilAcked(stack.webhookUrl, id)) acked++;
      if ((await request(`${stack.metricsUrl}/healthz`, { method: 'GET', timeoutMs: 5000 })).status === 200) healthy++;
      await sleep(200);
    }
    await waitFor(() => closedAfter.length === heads.length + bodies.length, { timeout: 10_000, what: 'slow connections closed' });
    await stack.sink.waitUntil((s) => ids.every((id) => s.byId.has(id)), 10_000, 'events acked during the attack');
    const longest = Math.max(...closedAfter);
    figures('slowloris', { slowConnections: heads.length + bodies.length, longestOpenSeconds: longest.toFixed(1), acked, delivered: ids.filter((id) => stack.sink.byId.has(id)).length, lost: 0, healthzOk: `${healthy}/${ids.length}`, idleStillOpen: !idleClosed });
    assert.equal(acked, ids.length);
    assert.equal(healthy, ids.length);
    // Head deadline 2 s and body deadline 3 s (plus slack for a loaded machine); trickling 1 byte
    // per 500 ms, the head alone would take over 100 s, so no byte bought a reprieve.
    assert.ok(longest < 6, `a slow connection stayed open ${longest} s`);
    assert.equal(idleClosed, false, 'the idle keep-alive connection was closed by the head deadline');
    idle.destroy();
    heads.concat(bodies).forEach((s) => s.destroy());
  });
});

describe('file descriptor exhaustion (ulimit -n 256)', () => {
  let router;
  let sink;
  let dir;
  before(async () => {
    dir = makeTmpDir();
    sink = await startSink({});
    const [webhookPort, metricsPort] = [await freePort(), await freePort()];
    fs.mkdirSync(path.join(dir, 'deadletter'));
    const config = routerConfig({ webhookPort, metricsPort, sinkUrl: sink.url, deadLetterDir: path.join(dir, 'deadletter'), auth: AUTH, webhook: { headerTimeout: '3s' } });
    const configPath = writeConfig(config, dir);
    const child = spawn('sh', ['-c', `ulimit -n 256 && exec "$0" -config "$1"`, BIN, configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    router = { child, stderr: () => stderr, webhookUrl: `http://127.0.0.1:${webhookPort}/webhook`, metricsUrl: `http://127.0.0.1:${metricsPort}`, webhookPort };
    await waitFor(async () => (await request(`${router.metricsUrl}/readyz`, { method: 'GET', timeoutMs: 1000 }).catch(() => ({}))).status === 200, { timeout: 10_000, what: 'router ready' });
  });
  after(async () => {
    router?.child.kill('SIGTERM');
    await sink?.close().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('400 idle connections: refused cleanly past the cap, /healthz answers, no acked event lost', async () => {
    const idle = [];
    const answers = {};
    for (let i = 0; i < 400; i++) {
      const socket = net.connect(router.webhookPort, '127.0.0.1');
      let raw = '';
      socket.on('data', (d) => (raw += d.toString('latin1')));
      socket.on('error', () => {});
      socket.on('close', () => {
        const status = parseAnswer(raw)?.status ?? 0;
        answers[status] = (answers[status] ?? 0) + 1;
      });
      idle.push(socket);
    }
    await sleep(500);
    const ids = Array.from({ length: 60 }, (_, i) => `fd-${i}`);
    let acked = 0;
    let healthy = 0;
    for (const id of ids) {
      if (await postUntilAcked(router.webhookUrl, id)) acked++;
      if ((await request(`${router.metricsUrl}/healthz`, { method: 'GET', timeoutMs: 5000 }).catch(() => ({}))).status === 200) healthy++;
    }
    await sink.waitUntil((s) => ids.every((id) => s.byId.has(id)), 15_000, 'acked events delivered');
    const delivered = ids.filter((id) => sink.byId.has(id)).length;
    figures('fd exhaustion', { ulimit: 256, idleConnections: 400, closedEarly: JSON.stringify(answers), acked, delivered, lost: acked - delivered, healthzOk: `${healthy}/${ids.length}` });
    idle.forEach((s) => s.destroy());
    assert.equal(acked, ids.length);
    assert.equal(delivered, acked);
    assert.equal(healthy, ids.length);
    assert.ok((answers[503] ?? 0) > 0, `no clean 503 refusal among ${JSON.stringify(answers)}`);
    assert.match(router.stderr(), /refusing connections: too many connections/);
  });
});
