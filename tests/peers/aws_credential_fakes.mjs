// Fakes of the three AWS credential endpoints the router fetches from, on one 127.0.0.1 port,
// following the public APIs (no AWS service can run here):
//   STS       POST /  (query API, form body) Action=AssumeRoleWithWebIdentity -> XML
//             https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html
//   ECS       GET  /v2/credentials/<id>  (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / FULL_URI), JSON
//   IMDSv2    PUT  /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds 1..21600) -> token;
//             GET  /latest/meta-data/iam/security-credentials/[role] with X-aws-ec2-metadata-token
// Every issued key id is new (ASIA<SOURCE><n>), so a test sees a refresh. Test controls:
//   POST /__control {lifetimeSeconds, webIdentityToken, roleArn, ecsAuthorization, imdsRole,
//                    failNext: {sts|ecs|imds: n}}     GET /__stats -> counts and requests
// Prints its port on the first line; exits when its parent process is gone.
import crypto from 'node:crypto';
import http from 'node:http';

const settings = {
  lifetimeSeconds: 3600,
  webIdentityToken: 'eyJhbGciOiJSUzI1NiJ9.fake-web-identity-token.sig',
  roleArn: 'arn:aws:iam::123456789012:role/veba-eventbridge',
  ecsAuthorization: null,
  imdsRole: 'veba-instance-role',
  failNext: {},
};
const stats = { sts: 0, ecs: 0, imdsToken: 0, imdsRole: 0, imdsCredentials: 0, issued: [], refused: [] };
const imdsTokens = new Map(); // token -> expiry (ms)
let serial = 0;

function issue(source) {
  serial += 1;
  const credentials = {
    accessKeyId: `ASIA${source}${String(serial).padStart(8, '0')}`,
    secretAccessKey: crypto.randomBytes(30).toString('base64'),
    sessionToken: `IQoJb3JpZ2luX2Vj${crypto.randomBytes(48).toString('base64')}`,
    expiration: new Date(Date.now() + settings.lifetimeSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  stats.issued.push({ source, ...credentials });
  return credentials;
}

function failing(kind) {
  if ((settings.failNext[kind] ?? 0) > 0) {
    settings.failNext[kind] -= 1;
    return true;
  }
  return false;
}

function stsError(res, status, code, message) {
  stats.refused.push({ api: 'sts', code });
  res.writeHead(status, { 'Content-Type': 'text/xml' });
  res.end(
    `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n  <Error>\n    <Type>Sender</Type>\n` +
      `    <Code>${code}</Code>\n    <Message>${message}</Message>\n  </Error>\n` +
      `  <RequestId>${crypto.randomUUID()}</RequestId>\n</ErrorResponse>\n`,
  );
}

function sts(req, res, body) {
  stats.sts += 1;
  const params = new URLSearchParams(req.method === 'POST' ? body : new URL(req.url, 'http://x').search);
  if (req.method === 'POST' && !(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
    return stsError(res, 400, 'InvalidParameterValue', 'Content-Type must be application/x-www-form-urlencoded');
  if (params.get('Action') !== 'AssumeRoleWithWebIdentity')
    return stsError(res, 400, 'InvalidAction', `Could not find operation ${params.get('Action')} for version 2011-06-15`);
  if (params.get('Version') !== '2011-06-15') return stsError(res, 400, 'InvalidParameterValue', 'Version');
  const session = params.get('RoleSessionName') ?? '';
  if (!/^[\w+=,.@-]{2,64}$/.test(session))
    return stsError(res, 400, 'ValidationError', "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint");
  const token = params.get('WebIdentityToken') ?? '';
  if (token.length < 4 || token.length > 20000) return stsError(res, 400, 'ValidationError', 'WebIdentityToken length');
  if (params.get('RoleArn') !== settings.roleArn)
    return stsError(res, 403, 'AccessDenied', `Not authorized to perform sts:AssumeRoleWithWebIdentity`);
  if (token !== settings.webIdentityToken) return stsError(res, 400, 'InvalidIdentityToken', 'Couldn\'t retrieve verification key from your identity provider');
  if (failing('sts')) return stsError(res, 400, 'IDPCommunicationError', 'The identity provider could not be reached');
  const c = issue('STS');
  res.writeHead(200, { 'Content-Type': 'text/xml' });
  res.end(`<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:vmware-system:event-router</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/veba-eventbridge/${session}</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:${session}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>${c.sessionToken}</SessionToken>
      <SecretAccessKey>${c.secretAccessKey}</SecretAccessKey>
      <Expiration>${c.expiration}</Expiration>
      <AccessKeyId>${c.accessKeyId}</AccessKeyId>
    </Credentials>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>${crypto.randomUUID()}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
`);
}

function json(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

function ecs(req, res) {
  stats.ecs += 1;
  if (settings.ecsAuthorization !== null && req.headers.authorization !== settings.ecsAuthorization) {
    stats.refused.push({ api: 'ecs', code: 'Unauthorized' });
    return json(res, 401, { code: 'InvalidToken', message: 'Authorization header is invalid' });
  }
  if (failing('ecs')) return json(res, 500, { code: 'InternalError', message: 'agent busy' });
  const c = issue('ECS');
  return json(res, 200, {
    AccessKeyId: c.accessKeyId,
    Expiration: c.expiration,
    RoleArn: 'arn:aws:iam::123456789012:role/veba-task-role',
    SecretAccessKey: c.secretAccessKey,
    Token: c.sessionToken,
  });
}

function imds(req, res, url) {
  if (url.pathname === '/latest/api/token') {
    stats.imdsToken += 1;
    if (req.method !== 'PUT') return json(res, 405, {});
    const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) {
      res.writeHead(400);
      return res.end();
    }
    const token = crypto.randomBytes(32).toString('base64');
    imdsTokens.set(token, Date.now() + ttl * 1000);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
    return res.end(token);
  }
  const token = req.headers['x-aws-ec2-metadata-token'];
  if (req.method !== 'GET' || !token || !(imdsTokens.get(token) > Date.now())) {
    stats.refused.push({ api: 'imds', code: 'Unauthorized' });
    res.writeHead(401);
    return res.end();
  }
  const prefix = '/latest/meta-data/iam/security-credentials/';
  const role = url.pathname.slice(prefix.length);
  if (role === '') {
    stats.imdsRole += 1;
    if (!settings.imdsRole) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    return res.end(settings.imdsRole);
  }
  stats.imdsCredentials += 1;
  if (role !== settings.imdsRole) {
    res.writeHead(404);
    return res.end();
  }
  if (failing('imds')) return json(res, 500, {});
  const c = issue('IMD');
  return json(res, 200, {
    Code: 'Success',
    LastUpdated: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    Type: 'AWS-HMAC',
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    Token: c.sessionToken,
    Expiration: c.expiration,
  });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/__control') {
      Object.assign(settings, JSON.parse(body || '{}'));
      return json(res, 200, settings);
    }
    if (url.pathname === '/__stats') return json(res, 200, stats);
    if (url.pathname === '/') return sts(req, res, body);
    if (url.pathname.startsWith('/v2/credentials/')) return ecs(req, res);
    if (url.pathname.startsWith('/latest/')) return imds(req, res, url);
    return json(res, 404, { message: `no fake at ${url.pathname}` });
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
setInterval(() => {
  try {
    process.kill(process.ppid, 0);
  } catch {
    process.exit(0);
  }
}, 200);
