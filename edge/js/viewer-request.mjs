// Lambda@Edge viewer-request: the authorizer (edge/src/authorizer.rs) in WebAssembly.
import { finish, get, load } from './host.mjs';

const KEYS_TIMEOUT_MS = 3000;
const now = () => Date.now() / 1000;

let host = start();
// A cold container fetches the issuer's keys during init, not on the first request.
await host.ready;

function start() {
  const h = load();
  const init = h.call('viewer_request_init', [h.config]);
  if (init.error) throw new Error(init.error);
  h.ready = init.fetchKeys ? fetchKeys(h, init.fetchKeys) : Promise.resolve();
  return h;
}

/** Fetches the keys the module asked for and reports the outcome back to it. */
async function fetchKeys(h, url) {
  const body = await get(url, KEYS_TIMEOUT_MS);
  const report = h.call('viewer_request_keys', [body ?? ''], now(), body ? 1 : 0);
  if (report.error) console.log(JSON.stringify({ function: 'viewer-request', keys: url, error: report.error }));
}

export const handler = async (event) => {
  try {
    const input = JSON.stringify(event);
    // The module asks for keys at most once per request (a report starts its cooldown).
    for (let attempt = 0; attempt < 2; attempt++) {
      const step = host.call('viewer_request', [input], now());
      if (step.fetchKeys) {
        await fetchKeys(host, step.fetchKeys);
        continue;
      }
      return finish(step);
    }
    throw new Error('the module asked for keys twice for one request');
  } catch (e) {
    // A trap leaves the instance unusable: the next request starts a fresh one.
    host = start();
    throw e;
  }
};
