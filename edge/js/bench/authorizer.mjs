// Benchmark: the packaged WebAssembly authorizer (viewer-request.zip, unpacked) against a
// handler using aws-jwt-verify, on the same RS256 (2048-bit) tokens and JWKS, in one run.
// Run by scripts/bench-edge.sh, which packages the zip with an issuer on loopback.
//
// Reports per-request latency (p50, p99) for one token repeated (what a viewer sends) and
// for tokens each seen once, and cold init (process start to the first answer, fresh
// processes), with the ratios ours/baseline.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import crypto from 'node:crypto';
import { openSync, statSync, writeSync } from 'node:fs';
import http from 'node:http';
import { event } from './common.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((a, v, i, all) => (i % 2 ? a : [...a, [v.replace(/^--/, ''), all[i + 1]]]), []),
);
const ISSUER = `http://127.0.0.1:${args.port}`;
const AUDIENCE = 'dicomweb-bench';
process.env.ISSUER = ISSUER;
process.env.AUDIENCE = AUDIENCE;
process.env.VIEWER_DIR = args.viewer;

const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] });
const server = http.createServer((_, res) => res.end(jwks)).listen(Number(args.port), '127.0.0.1');
await new Promise((ok) => server.once('listening', ok));

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
let serial = 0;
function token() {
  const now = Math.floor(Date.now() / 1000);
  const m = `${b64({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${b64({ iss: ISSUER, aud: AUDIENCE, sub: `user-${serial++}`, iat: now, exp: now + 3600 })}`;
  return `${m}.${crypto.sign('sha256', Buffer.from(m), privateKey).toString('base64url')}`;
}

const ours = (await import(new URL(`file://${args.viewer}/index.mjs`))).handler;
const baseline = (await import('./baseline.mjs')).handler;

async function time(handler, tok) {
  const ev = event(tok);
  const t0 = process.hrtime.bigint();
  const r = await handler(ev);
  const ns = Number(process.hrtime.bigint() - t0);
  if (r.status) throw new Error(`refused: ${JSON.stringify(r)}`);
  return ns / 1000;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// The packaged handler prints an audit line per request (docs/operations.md), to stdout as
// Lambda collects it; while measuring it goes to /dev/null, written as synchronously.
const print = console.log;
const devNull = openSync('/dev/null', 'w');
console.log = (line) => writeSync(devNull, `${line}\n`);

// Rounds alternate the two handlers so that machine noise falls on both alike.
const ROUNDS = 5;
const N = Number(args.n ?? 2000);
const repeated = { ours: [], baseline: [] };
const fresh = { ours: [], baseline: [] };
const same = token();
for (let w = 0; w < 200; w++) { await time(ours, same); await time(baseline, same); }
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, h] of [['ours', ours], ['baseline', baseline]]) {
    for (let i = 0; i < N; i++) repeated[name].push(await time(h, same));
    const tokens = Array.from({ length: N / 4 }, token);
    for (const t of tokens) fresh[name].push(await time(h, t));
  }
}

const cold = { ours: [], baseline: [] };
const init = { ours: [], baseline: [] };
const COLD = Number(args.cold ?? 15);
for (let i = 0; i < COLD; i++) {
  for (const which of ['ours', 'baseline']) {
    // Asynchronous, so this process keeps serving the JWKS the child fetches.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [new URL('./cold.mjs', import.meta.url).pathname, which],
      { env: { ...process.env, TOKEN: token() } },
    );
    const r = JSON.parse(stdout.trim().split('\n').pop());
    cold[which].push(r.ms);
    init[which].push(r.handlerMs);
  }
}
server.close();
console.log = print;

const fmt = (x) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(1)} µs`);
const row = (label, o, b) => `${label.padEnd(34)} ${fmt(o).padStart(10)} ${fmt(b).padStart(10)} ${(o / b).toFixed(2).padStart(7)}`;
console.log(`node ${process.version}, ${N * ROUNDS} repeated and ${(N / 4) * ROUNDS} first-seen tokens per handler, ${COLD} cold starts each`);
console.log(`${''.padEnd(34)} ${'wasm'.padStart(10)} ${'aws-jwt-verify'.padStart(10)} ${'ratio'.padStart(7)}`);
console.log(row('repeated token p50', pct(repeated.ours, 50), pct(repeated.baseline, 50)));
console.log(row('repeated token p99', pct(repeated.ours, 99), pct(repeated.baseline, 99)));
console.log(row('first-seen token p50', pct(fresh.ours, 50), pct(fresh.baseline, 50)));
console.log(row('first-seen token p99', pct(fresh.ours, 99), pct(fresh.baseline, 99)));
console.log(row('cold: handler import to answer p50', pct(init.ours, 50) * 1000, pct(init.baseline, 50) * 1000));
console.log(row('cold: handler import to answer max', Math.max(...init.ours) * 1000, Math.max(...init.baseline) * 1000));
console.log(row('cold: process start to answer p50', pct(cold.ours, 50) * 1000, pct(cold.baseline, 50) * 1000));
if (args.zip) console.log(`viewer-request.zip: ${statSync(args.zip).size} bytes (limit 1048576)`);
