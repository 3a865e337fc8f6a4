// A local endpoint that checks every request's SigV4 signature with sigv4_verify.mjs (smithy).
// Keys come from SIGV4_KEYS (JSON {keyId: {secret, token?}}), scope from SIGV4_REGION and
// SIGV4_SERVICE. Answers 200 {"verified":true,keyId,signedHeaders,method,path,body} or AWS's error
// shape {"__type": code, "message": ...} with its status. Prints its port; exits with its parent.
import http from 'node:http';
import { verifySigV4 } from './sigv4_verify.mjs';

const keys = JSON.parse(process.env.SIGV4_KEYS ?? '{}');
const region = process.env.SIGV4_REGION ?? 'us-east-1';
const service = process.env.SIGV4_SERVICE ?? 'events';

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const result = await verifySigV4({ method: req.method, url: req.url, headers: req.headers, body }, { keys, region, service });
    res.writeHead(result.ok ? 200 : result.status, { 'Content-Type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(result.ok
      ? { verified: true, keyId: result.keyId, signedHeaders: result.signedHeaders, method: req.method, path: req.url, body: body.toString() }
      : { __type: result.code, message: result.message }));
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
setInterval(() => {
  try {
    process.kill(process.ppid, 0);
  } catch {
    process.exit(0);
  }
}, 200);
