// A fake Amazon EventBridge endpoint on 127.0.0.1 (AWS cannot be reached here), following the
// public JSON 1.1 API (POST /, Content-Type application/x-amz-json-1.1, X-Amz-Target
// AWSEvents.<Operation>) for PutEvents and ListRules. Every request's SigV4 signature is checked
// with sigv4_verify.mjs (AWS's own JavaScript signer) before anything else, as AWS does.
//
// PutEvents validation as documented: 1..10 entries; 256 KiB per call, an entry counting 14
// bytes for Time plus the UTF-8 bytes of Source, DetailType, Detail and Resources; Source,
// DetailType and Detail required per entry (InvalidArgument), Detail a JSON object
// (MalformedDetail); an unknown EventBusName fails the call (ResourceNotFoundException).
// Answers {FailedEntryCount, Entries: [{EventId} | {ErrorCode, ErrorMessage}]} in order.
//
// options: {region, buses: ['default', ...], keys: {id: {secret, token?}} or
//           keyLookup: async (id) => key, rules: [{Name, Arn, EventPattern, State, EventBusName}],
//           injectEntry: (entry, detail) => null | {code, message} (per-entry fault injection),
//           injectCall: (operation) => null | {status, code, message} (whole-call faults)}
// ListRules pages as AWS does: Limit 1..100 (default 100), NextToken opaque; state.rules may be
// changed while running (a rule edited in AWS).
import crypto from 'node:crypto';
import http from 'node:http';
import { verifySigV4 } from './sigv4_verify.mjs';

const ACCOUNT = '123456789012';

function entrySize(e) {
  let size = e.Time !== undefined ? 14 : 0;
  for (const text of [e.Source, e.DetailType, e.Detail]) if (typeof text === 'string') size += Buffer.byteLength(text);
  for (const r of e.Resources ?? []) size += Buffer.byteLength(r);
  return size;
}

export async function startEventBridgeFake(options = {}) {
  const region = options.region ?? 'us-east-1';
  const buses = new Set(options.buses ?? ['default']);
  const state = {
    accepted: [], // {eventId, entry, detail, keyId}
    calls: { PutEvents: 0, ListRules: 0 },
    putCalls: [], // {entries, at}: every PutEvents call that passed validation, in order
    listRulesBodies: [], // the body of every ListRules call
    refused: [], // {status, code, message}
    entryErrors: [], // {code, entry}
    rules: options.rules ?? [],
  };
  const keys = new Proxy({}, { get: (_, id) => state.currentKeys?.[id] });

  function answer(res, status, value) {
    res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-RequestId': crypto.randomUUID() });
    res.end(JSON.stringify(value));
  }
  function fail(res, status, code, message) {
    state.refused.push({ status, code, message });
    answer(res, status, { __type: code, message });
  }

  function putEvents(res, body, keyId) {
    state.calls.PutEvents += 1;
    const entries = body.Entries;
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > 10)
      return fail(res, 400, 'ValidationException', "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1");
    const total = entries.reduce((sum, e) => sum + entrySize(e), 0);
    if (total > 256 * 1024) return fail(res, 400, 'ValidationException', 'Total size of the entries in the request is over the limit.');
    state.putCalls.push({ entries: entries.length, at: Date.now() });
    for (const e of entries) {
      const bus = e.EventBusName ?? 'default';
      const name = bus.startsWith('arn:') ? bus.split('/').pop() : bus;
      if (!buses.has(name)) return fail(res, 400, 'ResourceNotFoundException', `Event bus ${name} does not exist.`);
    }
    const results = entries.map((e) => {
      if (typeof e.Source !== 'string' || typeof e.DetailType !== 'string' || typeof e.Detail !== 'string')
        return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter(s) Source, DetailType, Detail is not valid.' };
      if (e.Time !== undefined && typeof e.Time !== 'number')
        return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter Time is not valid.' };
      let detail;
      try {
        detail = JSON.parse(e.Detail);
      } catch {
        detail = undefined;
      }
      if (!detail || typeof detail !== 'object' || Array.isArray(detail)) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
      const injected = options.injectEntry?.(e, detail);
      if (injected) return { ErrorCode: injected.code, ErrorMessage: injected.message ?? injected.code };
      const eventId = crypto.randomUUID();
      state.accepted.push({ eventId, entry: e, detail, keyId });
      return { EventId: eventId };
    });
    const failed = results.filter((r) => r.ErrorCode);
    for (const [i, r] of results.entries()) if (r.ErrorCode) state.entryErrors.push({ code: r.ErrorCode, entry: entries[i] });
    answer(res, 200, { FailedEntryCount: failed.length, Entries: results });
  }

  function listRules(res, body) {
    state.calls.ListRules += 1;
    state.listRulesBodies.push(body);
    const limit = body.Limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return fail(res, 400, 'ValidationException', 'Limit must be between 1 and 100');
    const bus = body.EventBusName ?? 'default';
    const name = bus.startsWith('arn:') ? bus.split('/').pop() : bus;
    if (!buses.has(name)) return fail(res, 400, 'ResourceNotFoundException', `Event bus ${name} does not exist.`);
    const rules = state.rules.filter((r) => (r.EventBusName ?? 'default') === name);
    const start = body.NextToken ? Number(Buffer.from(body.NextToken, 'base64').toString()) : 0;
    if (!Number.isInteger(start) || start < 0) return fail(res, 400, 'ValidationException', 'The NextToken is invalid.');
    const page = rules.slice(start, start + limit);
    const result = { Rules: page };
    if (start + limit < rules.length) result.NextToken = Buffer.from(String(start + limit)).toString('base64');
    answer(res, 200, result);
  }

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks);
      const keyId = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1];
      state.currentKeys = keyId && options.keyLookup ? { [keyId]: await options.keyLookup(keyId) } : options.keys ?? {};
      const verdict = await verifySigV4({ method: req.method, url: req.url, headers: req.headers, body: raw }, { keys, region, service: 'events' });
      if (!verdict.ok) return fail(res, verdict.status, verdict.code, verdict.message);
      if (req.method !== 'POST' || req.url !== '/') return fail(res, 404, 'UnknownOperationException', 'Unknown operation');
      if (req.headers['content-type'] !== 'application/x-amz-json-1.1') return fail(res, 400, 'SerializationException', 'Content-Type must be application/x-amz-json-1.1');
      const target = req.headers['x-amz-target'];
      if (!verdict.signedHeaders.includes('x-amz-target')) return fail(res, 400, 'IncompleteSignatureException', 'X-Amz-Target must be signed');
      let body;
      try {
        body = JSON.parse(raw.toString());
      } catch {
        return fail(res, 400, 'SerializationException', 'Start of structure or map found where not expected.');
      }
      const operation = (target ?? '').replace(/^AWSEvents\./, '');
      const injected = options.injectCall?.(operation, body);
      if (injected) return fail(res, injected.status, injected.code, injected.message ?? injected.code);
      if (target === 'AWSEvents.PutEvents') return putEvents(res, body, verdict.keyId);
      if (target === 'AWSEvents.ListRules') return listRules(res, body);
      return fail(res, 400, 'UnknownOperationException', `Unknown operation ${target}`);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    account: ACCOUNT,
    state,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
