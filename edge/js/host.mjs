// The Node.js host of the Lambda@Edge functions. It loads the WebAssembly module once per
// container, moves JSON in and out of it, and supplies what the module cannot do itself:
// the clock, HTTP (the issuer's keys), the environment (credentials) and Node's
// `crypto.verify`. It makes no decisions: which key, which algorithm, what is refused, when
// keys are fetched, all come from the Rust code (edge/src/lambda_edge.rs, edge/wasm).
import { readFileSync } from 'node:fs';
import crypto from 'node:crypto';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Node's parameters for each JWS algorithm (RFC 7518 §3).
const VERIFY = {
  RS256: ['sha256', {}],
  RS384: ['sha384', {}],
  RS512: ['sha512', {}],
  PS256: ['sha256', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }],
  PS384: ['sha384', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }],
  PS512: ['sha512', { padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }],
  ES256: ['sha256', { dsaEncoding: 'ieee-p1363' }],
  ES384: ['sha384', { dsaEncoding: 'ieee-p1363' }],
  EdDSA: [null, {}],
};

/** Loads the module and the baked config from the package folder (or the given paths). */
export function load({
  wasm = new URL('./edge.wasm', import.meta.url),
  config = new URL('./config.json', import.meta.url),
} = {}) {
  const keys = new Map(); // JWK text -> KeyObject; the JWKS is small and changes rarely
  let exports;
  const view = (ptr, len) => new Uint8Array(exports.memory.buffer, ptr, len);
  const text = (ptr, len) => decoder.decode(view(ptr, len));

  function verify_signature(algPtr, algLen, jwkPtr, jwkLen, msgPtr, msgLen, sigPtr, sigLen) {
    try {
      const params = VERIFY[text(algPtr, algLen)];
      if (!params) return 0;
      const jwk = text(jwkPtr, jwkLen);
      let key = keys.get(jwk);
      if (!key) {
        if (keys.size >= 64) keys.clear();
        key = crypto.createPublicKey({ key: JSON.parse(jwk), format: 'jwk' });
        keys.set(jwk, key);
      }
      const [hash, options] = params;
      return crypto.verify(hash, view(msgPtr, msgLen), { key, ...options }, view(sigPtr, sigLen))
        ? 1
        : 0;
    } catch {
      return 0;
    }
  }

  const module = new WebAssembly.Module(readFileSync(wasm));
  exports = new WebAssembly.Instance(module, { env: { verify_signature } }).exports;

  /** Calls `name` with byte/string arguments (one per input slot) and numbers; parses the answer. */
  function call(name, inputs, ...numbers) {
    inputs.forEach((input, slot) => {
      const bytes = typeof input === 'string' ? encoder.encode(input) : input;
      const ptr = exports.input_buffer(slot, bytes.length);
      view(ptr, bytes.length).set(bytes);
    });
    const len = exports[name](...numbers);
    const out = text(exports.output_ptr(), len);
    // A step may be followed by its audit line, ready to print (edge/wasm/src/abi.rs).
    const newline = out.indexOf('\n');
    if (newline < 0) return JSON.parse(out);
    const step = JSON.parse(out.slice(0, newline));
    if (step.done) step.done.auditLine = out.slice(newline + 1);
    return step;
  }

  return { call, config: readFileSync(config) };
}

const MAX_KEYS_BYTES = 1 << 20;

/**
 * GETs `url` within `timeoutMs`; resolves to the body, or to `null` on any failure (which is
 * logged). Node's `http`/`https` rather than `fetch`: the first `fetch` in a process costs
 * ~45 ms of loading, which a cold start would pay before its first answer.
 */
export async function get(url, timeoutMs) {
  const client = url.startsWith('https:') ? await import('node:https') : await import('node:http');
  return new Promise((resolve) => {
    const fail = (what) => {
      console.log(JSON.stringify({ keys: url, error: what }));
      resolve(null);
    };
    const req = client.get(url, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        fail(`status ${res.statusCode}`);
        return;
      }
      const chunks = [];
      let size = 0;
      res.on('data', (c) => {
        size += c.length;
        if (size > MAX_KEYS_BYTES) req.destroy(new Error('too large'));
        else chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', (e) => fail(e.message));
    });
    const timer = setTimeout(() => req.destroy(new Error('timeout')), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (e) => fail(e.message));
  });
}

/** Returns CloudFront's result and prints the log and audit lines, for a `done` step. */
export function finish(step) {
  if (step.error) throw new Error(step.error);
  if (step.done.log) console.log(JSON.stringify(step.done.log));
  if (step.done.auditLine) console.log(step.done.auditLine);
  return step.done.result;
}
