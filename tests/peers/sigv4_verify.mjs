// Verifies an AWS Signature Version 4 request with an implementation independent of ours:
// @smithy/signature-v4, the signer of AWS's JavaScript SDK v3, with @aws-crypto/sha256-js. It
// does what an AWS endpoint does: reads the key id, scope and signed-header list from the
// Authorization header, re-signs the request's signed headers, path, query and body with the
// secret it knows for that key id, and compares. Answers as AWS does when a check fails
// (UnrecognizedClientException, InvalidSignatureException, IncompleteSignatureException).
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;_.-]+), Signature=([0-9a-f]{64})$/;

function refuse(status, code, message) {
  return { ok: false, status, code, message };
}

function amzDateToDate(text) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text ?? '');
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : null;
}

function decodeQuery(search) {
  const query = {};
  for (const part of search.replace(/^\?/, '').split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
    if (key in query) query[key] = [].concat(query[key], value);
    else query[key] = value;
  }
  return query;
}

/**
 * request: {method, url (path and query as sent), headers (node's lower-cased object), body Buffer}
 * options: {keys: {keyId: {secret, token?}}, region, service, now?: Date, maxSkewSeconds?: 900}
 * Returns {ok: true, keyId, signedHeaders} or {ok: false, status, code, message}.
 */
export async function verifySigV4(request, options) {
  const authorization = request.headers.authorization;
  if (!authorization) return refuse(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = AUTH.exec(authorization);
  if (!m) return refuse(400, 'IncompleteSignatureException', `Authorization header is malformed: ${authorization.slice(0, 40)}...`);
  const [, keyId, date8, region, service, signedList, signature] = m;
  const key = options.keys[keyId];
  if (!key) return refuse(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  if (region !== options.region || service !== options.service)
    return refuse(403, 'InvalidSignatureException', `Credential should be scoped to a valid region and service ${options.region}/${options.service}, not ${region}/${service}.`);
  const signed = signedList.split(';');
  if ([...signed].sort().join(';') !== signedList || new Set(signed).size !== signed.length)
    return refuse(400, 'IncompleteSignatureException', 'SignedHeaders must be sorted and unique.');
  for (const required of ['host', 'x-amz-date'])
    if (!signed.includes(required)) return refuse(400, 'IncompleteSignatureException', `Signature must sign the '${required}' header.`);
  const amzDate = request.headers['x-amz-date'];
  const when = amzDateToDate(amzDate);
  if (!when || amzDate.slice(0, 8) !== date8) return refuse(400, 'IncompleteSignatureException', 'X-Amz-Date is missing, malformed or not the credential date.');
  const skew = Math.abs((options.now ?? new Date()).getTime() - when.getTime()) / 1000;
  if (skew > (options.maxSkewSeconds ?? 900)) return refuse(400, 'InvalidSignatureException', `Signature expired: ${amzDate} is too far from now.`);
  if (key.token !== undefined) {
    if (!signed.includes('x-amz-security-token')) return refuse(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    if (request.headers['x-amz-security-token'] !== key.token) return refuse(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  const headers = {};
  for (const name of signed) {
    if (!(name in request.headers)) return refuse(400, 'IncompleteSignatureException', `Signed header '${name}' is not in the request.`);
    headers[name] = Array.isArray(request.headers[name]) ? request.headers[name].join(',') : request.headers[name];
  }
  const url = new URL(request.url, 'http://placeholder');
  // The path as the application meant it: our signer encodes each segment once, as does smithy.
  const path = url.pathname.split('/').map(decodeURIComponent).join('/');
  const signer = new SignatureV4({
    credentials: { accessKeyId: keyId, secretAccessKey: key.secret, sessionToken: signed.includes('x-amz-security-token') ? request.headers['x-amz-security-token'] : undefined },
    region,
    service,
    sha256: Sha256,
    applyChecksum: false,
  });
  const expected = await signer.sign(
    { method: request.method, protocol: 'https:', hostname: headers.host.split(':')[0], path, query: decodeQuery(url.search), headers, body: request.body },
    { signingDate: when },
  );
  const expectedAuthorization = expected.headers.authorization;
  if (expectedAuthorization !== authorization) {
    return refuse(403, 'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.');
  }
  return { ok: true, keyId, signedHeaders: signed, signature };
}
