// The packaged Lambda@Edge functions under Node's test runner: the handlers are imported from
// the unpacked zips that `cargo xtask package` wrote (tests/tests/deploy.rs unpacks them and
// sets the environment below), with the JWKS served over HTTP by this file and the signer's
// output sent over HTTP to the HealthImaging emulator.
//
// Environment: VIEWER_DIR, ORIGIN_DIR (unpacked zips); JWKS_PORT, ISSUER, AUDIENCE (the
// baked config's issuer is http://127.0.0.1:JWKS_PORT); DATASTORE, IMAGE_SET, FRAME_ID,
// FRAME_SHA256 (a frame of the emulator); EMULATOR_AK, EMULATOR_SK; COOLDOWN_SECONDS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const env = process.env;
const DS = env.DATASTORE;
const ORIGIN = 'https://viewer.example';

// ---- The issuer: two keys, of which the JWKS publishes `current` (and `rotated` later) ---
const key = () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const keys = { current: key(), rotated: key(), stranger: key() };
const published = new Set(['current']);
let jwksFetches = 0;
const jwks = () => ({
  keys: [...published].map((kid) => ({
    ...keys[kid].publicKey.export({ format: 'jwk' }),
    kid,
    alg: 'RS256',
    use: 'sig',
  })),
});
const server = http.createServer((req, res) => {
  if (req.url === '/.well-known/jwks.json') {
    jwksFetches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(jwks()));
  } else {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => server.listen(Number(env.JWKS_PORT), '127.0.0.1', ok));
test.after(() => server.close());

const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
function jwt(claims = {}, { kid = 'current', signer = kid, alg = 'RS256', header = {} } = {}) {
  const body = { iss: env.ISSUER, aud: env.AUDIENCE, sub: 'user', iat: now() - 5, exp: now() + 600, ...claims };
  const message = `${b64({ alg, typ: 'JWT', kid, ...header })}.${b64(body)}`;
  if (alg === 'none') return `${message}.`;
  if (alg === 'HS256') {
    const secret = keys.current.publicKey.export({ format: 'pem', type: 'spki' });
    return `${message}.${crypto.createHmac('sha256', secret).update(message).digest('base64url')}`;
  }
  return `${message}.${crypto.sign('sha256', Buffer.from(message), keys[signer].privateKey).toString('base64url')}`;
}

// ---- The handlers, from the unpacked zips (the viewer's fetches the JWKS as it loads) -----
const viewer = (await import(pathToFileURL(path.join(env.VIEWER_DIR, 'index.mjs')))).handler;
const origin = (await import(pathToFileURL(path.join(env.ORIGIN_DIR, 'index.mjs')))).handler;
const loadedAt = Date.now();

function event(type, request) {
  return {
    Records: [{ cf: {
      config: { distributionDomainName: 'd111111abcdef8.cloudfront.net', distributionId: 'EDFDVBD6EXAMPLE', eventType: type, requestId: 'r' },
      request: { clientIp: '203.0.113.9', method: 'GET', querystring: '', headers: {}, ...request },
    } }],
  };
}
const headers = (pairs) =>
  Object.fromEntries(Object.entries(pairs).map(([k, v]) => [k.toLowerCase(), [{ key: k, value: v }]]));
const framesUri = `/datastore/${DS}/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5/frames/1`;
const get = (query, hdrs = {}) =>
  viewer(event('viewer-request', { uri: framesUri, querystring: query, headers: headers(hdrs) }));
const header = (r, name) => r.headers?.[name]?.[0]?.value;

test('the keys are fetched once, while the package loads', () => {
  assert.equal(jwksFetches, 1);
});

test('a valid token passes: token removed from the query, Accept normalised', async () => {
  const quoted = await get(`token=${jwt()}&imageSetId=abc`, {
    Accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*',
  });
  assert.equal(quoted.uri, framesUri);
  assert.equal(quoted.querystring, 'imageSetId=abc');
  const unquoted = await get(`imageSetId=abc&token=${jwt()}`, {
    Accept: 'multipart/related; transfer-syntax=*; type=application/octet-stream',
  });
  assert.equal(unquoted.querystring, 'imageSetId=abc');
  // Equivalent Accept headers become one value, so they share CloudFront's cache key.
  assert.equal(header(quoted, 'accept'), header(unquoted, 'accept'));
  assert.equal(header(quoted, 'accept'), 'multipart/related;transfer-syntax=*;type=application/octet-stream');
  const bearer = await get('', { Authorization: `Bearer ${jwt()}` });
  assert.equal(bearer.uri, framesUri);
  assert.equal(header(bearer, 'x-dicomweb-public-url'), 'https://d111111abcdef8.cloudfront.net');
});

test('each request prints one audit line, with CloudFront\'s request ID and no token', async () => {
  const printed = [];
  const log = console.log;
  console.log = (line) => printed.push(line);
  let token;
  try {
    token = jwt();
    await get(`token=${token}`);
    await get('');
  } finally {
    console.log = log;
  }
  const audits = printed.map((l) => JSON.parse(l)).filter((l) => l.type === 'dicomweb-edge.audit');
  assert.equal(audits.length, 2, printed.join('\n'));
  const [allowed, refused] = audits;
  assert.equal(allowed.requestId, 'r');
  assert.equal(allowed.clientIp, '203.0.113.9');
  assert.equal(allowed.action, 'frames');
  assert.equal(allowed.instance, '1.2.3.4.5');
  assert.equal(allowed.decision, 'allowed');
  assert.ok(allowed.user?.iss, JSON.stringify(allowed));
  assert.equal(refused.decision, 'refused');
  assert.equal(refused.status, 401);
  const signature = token.split('.')[2];
  for (const line of printed) assert.ok(!line.includes(signature), line);
});

test('a rotated key is fetched on its unknown kid, at most once per cooldown', async () => {
  published.add('rotated');
  const rotated = jwt({}, { kid: 'rotated' });
  // Within the cooldown of the load-time fetch: refused, nothing fetched.
  const wait = Number(env.COOLDOWN_SECONDS) * 1000 - (Date.now() - loadedAt);
  if (wait > 200) {
    assert.equal((await get(`token=${rotated}`)).status, '401');
    assert.equal(jwksFetches, 1);
  }
  await new Promise((ok) => setTimeout(ok, Math.max(0, wait) + 1100));
  const passed = await get(`token=${rotated}`);
  assert.equal(passed.uri, framesUri);
  assert.equal(jwksFetches, 2);
  // Forged kids right after: refused, and no fetch storm.
  for (let i = 0; i < 5; i++) assert.equal((await get(`token=${jwt({}, { kid: `forged-${i}`, signer: 'stranger' })}`)).status, '401');
  assert.equal(jwksFetches, 2);
});

function send(req, body) {
  const o = req.origin.custom;
  return new Promise((resolve, reject) => {
    const flat = {};
    for (const entries of Object.values(req.headers)) for (const e of entries) flat[e.key] = e.value;
    const r = http.request(
      { host: o.domainName, port: o.port, path: req.uri, method: req.method, headers: flat },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

test("the signer's output, sent over HTTP to the emulator, returns the frame", async () => {
  process.env.AWS_ACCESS_KEY_ID = env.EMULATOR_AK;
  process.env.AWS_SECRET_ACCESS_KEY = env.EMULATOR_SK;
  delete process.env.AWS_SESSION_TOKEN;
  const body = JSON.stringify({ imageFrameId: env.FRAME_ID });
  const post = event('origin-request', {
    method: 'POST',
    uri: `/datastore/${DS}/imageSet/${env.IMAGE_SET}/getImageFrame`,
    headers: headers({ 'Content-Type': 'application/json' }),
    body: { inputTruncated: false, action: 'read-only', encoding: 'base64', data: Buffer.from(body).toString('base64') },
    origin: { custom: { customHeaders: {}, domainName: 'runtime-medical-imaging.us-east-1.amazonaws.com', keepaliveTimeout: 5, path: '', port: 443, protocol: 'https', readTimeout: 30, sslProtocols: ['TLSv1.2'] } },
  });
  const signed = await origin(post);
  assert.equal(signed.origin.custom.protocol, 'http');
  assert.equal(signed.origin.custom.domainName, '127.0.0.1');
  assert.match(header(signed, 'authorization'), /^AWS4-HMAC-SHA256 Credential=/);
  assert.ok(!JSON.stringify(signed).includes(env.EMULATOR_SK), 'the secret key is in the request');
  const r = await send(signed, body);
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(crypto.createHash('sha256').update(r.body).digest('hex'), env.FRAME_SHA256);
  // Another body under the same signature is refused by the emulator's SigV4 check.
  const other = body.replace(/.$/, ' }');
  assert.equal((await send(signed, other)).status, 403);
  // Without credentials the signer answers 500 itself; nothing goes out unsigned.
  delete process.env.AWS_ACCESS_KEY_ID;
  const refused = await origin(post);
  assert.equal(refused.status, '500');
});

test("HealthImaging's refusals are answered from the error table at origin-response", async () => {
  const response = (status, type) => ({
    Records: [{ cf: {
      config: { distributionDomainName: 'd111111abcdef8.cloudfront.net', distributionId: 'EDFDVBD6EXAMPLE', eventType: 'origin-response', requestId: 'r' },
      request: { clientIp: '203.0.113.9', method: 'POST', querystring: '', headers: {}, uri: `/datastore/${DS}/imageSet/${env.IMAGE_SET}/getImageFrame` },
      response: { status: String(status), statusDescription: 'x', headers: type ? headers({ 'X-Amzn-ErrorType': type }) : {} },
    } }],
  });
  for (const [status, type, want, text] of [
    [500, 'InternalServerException', '502', 'HealthImaging failed\n'],
    [429, 'ThrottlingException', '503', 'HealthImaging is throttling requests; retry shortly\n'],
    [403, 'AccessDeniedException:http://internal.amazon.com/coral/', '403', 'HealthImaging denied the edge access to this resource\n'],
    [404, null, '404', 'HealthImaging has no such resource\n'],
  ]) {
    const r = await origin(response(status, type));
    assert.equal(r.status, want, type);
    assert.equal(r.body, text);
    assert.equal(header(r, 'cache-control'), want === '404' ? 'public, max-age=5' : 'no-store');
    assert.equal(header(r, 'x-content-type-options'), 'nosniff');
  }
  // A success, and the GET's answer (the translator's), pass as they came.
  const ok = await origin(response(200, null));
  assert.equal(ok.status, '200');
  assert.equal(ok.body, undefined);
  const get = response(404, null);
  get.Records[0].cf.request.method = 'GET';
  assert.equal((await origin(get)).body, undefined);
});

test('an unreachable issuer fails closed, and its keys are fetched again after the cooldown', async () => {
  await new Promise((ok) => server.close(ok));
  server.closeAllConnections?.();
  // A second container: the same package, loaded afresh, while the issuer is down.
  const cold = (await import(`${pathToFileURL(path.join(env.VIEWER_DIR, 'index.mjs'))}?container=2`)).handler;
  const started = Date.now();
  const token = jwt();
  const refused = await cold(event('viewer-request', { uri: framesUri, querystring: `token=${token}` }));
  assert.equal(refused.status, '401');
  await new Promise((ok) => server.listen(Number(env.JWKS_PORT), '127.0.0.1', ok));
  const fetches = jwksFetches;
  await new Promise((ok) => setTimeout(ok, Number(env.COOLDOWN_SECONDS) * 1000 - (Date.now() - started) + 1100));
  const passed = await cold(event('viewer-request', { uri: framesUri, querystring: `token=${token}` }));
  assert.equal(passed.uri, framesUri);
  assert.equal(jwksFetches, fetches + 1);
});

// ---- The suite both shells pass (edge/tests/shell_cases.json; the local server runs it in
// local/tests/shell_cases.rs) -------------------------------------------------------------
const suite = JSON.parse(
  await (await import('node:fs/promises')).readFile(new URL('../../tests/shell_cases.json', import.meta.url), 'utf8'),
);

function mint(t) {
  switch (t?.kind) {
    case undefined: return undefined;
    case 'valid': return jwt();
    case 'claims': {
      const claims = {};
      for (const [k, v] of Object.entries(t.claims)) {
        claims[k] = v === null ? undefined : ['exp', 'nbf', 'iat'].includes(k) ? now() + v : v;
      }
      return jwt(claims);
    }
    case 'garbage': return t.value;
    case 'stranger': return jwt({}, { signer: 'stranger' });
    case 'alg-none': return jwt({}, { alg: 'none' });
    case 'hs256': return jwt({}, { alg: 'HS256' });
    case 'oversized': return jwt({ pad: 'x'.repeat(9000) });
    case 'tampered': {
      const [h, , sig] = jwt().split('.');
      return `${h}.${b64({ iss: env.ISSUER, aud: env.AUDIENCE, exp: now() + 9999 })}.${sig}`;
    }
    default: throw new Error(`unknown token kind ${t.kind}`);
  }
}

function fill(s, token) {
  return s.replaceAll('{ds}', DS).replaceAll('{token}', token ?? '');
}

function check(c, r, token) {
  const e = c.expect;
  if (e.forward) {
    assert.equal(r.status, undefined, `${c.name}: answered ${r.status} ${r.body}`);
    if (e.forward.query !== undefined) assert.equal(r.querystring, e.forward.query, c.name);
    for (const [k, v] of Object.entries(e.forward.headers ?? {})) assert.equal(header(r, k), v, `${c.name}: ${k}`);
    if (e.forward.signed) {
      const signedHeaders = header(r, 'authorization').match(/SignedHeaders=([^,]+)/)[1].split(';');
      for (const h of e.forward.signed) assert.ok(signedHeaders.includes(h), `${c.name}: ${h} is not signed`);
      assert.equal(header(r, 'x-amz-cf-id'), 'r', `${c.name}: X-Amz-Cf-Id is the event's requestId`);
    }
  } else {
    assert.equal(r.status, String(e.status), `${c.name}: ${JSON.stringify(r.body)}`);
    if (token) assert.ok(!JSON.stringify(r).includes(token), `${c.name}: the token is echoed`);
    for (const [k, v] of Object.entries(e.headers ?? {})) assert.equal(header(r, k), v, `${c.name}: ${k}`);
    if (e.body !== undefined) assert.equal(r.body, e.body, c.name);
  }
}

test('the shared viewer-request suite', async () => {
  for (const c of suite.viewer_request) {
    const token = mint(c.token);
    const hdrs = Object.fromEntries(Object.entries(c.headers ?? {}).map(([k, v]) => [k, fill(v, token)]));
    const r = await viewer(event('viewer-request', {
      method: c.method ?? 'GET', uri: fill(c.uri), querystring: fill(c.query ?? '', token), headers: headers(hdrs),
    }));
    check(c, r, token);
  }
});

test('the shared origin-request suite', async () => {
  process.env.AWS_ACCESS_KEY_ID = env.EMULATOR_AK;
  process.env.AWS_SECRET_ACCESS_KEY = env.EMULATOR_SK;
  delete process.env.AWS_SESSION_TOKEN;
  for (const c of suite.origin_request) {
    const r = await origin(event('origin-request', {
      method: c.method, uri: fill(c.uri), querystring: fill(c.query ?? ''), headers: headers({ 'Content-Type': 'application/json' }),
      body: { inputTruncated: !!c.truncated, action: 'read-only', encoding: 'text', data: c.body },
      origin: { custom: { customHeaders: {}, domainName: 'runtime-medical-imaging.us-east-1.amazonaws.com', keepaliveTimeout: 5, path: '', port: 443, protocol: 'https', readTimeout: 30, sslProtocols: ['TLSv1.2'] } },
    }));
    check(c, r);
  }
});
