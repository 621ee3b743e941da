// Lambda@Edge origin-request and origin-response of the native behavior: the signer
// (edge/src/signer.rs) in WebAssembly. At origin-request it signs; at origin-response it
// answers HealthImaging's refusals from the error table. Credentials are the function
// role's, from the reserved environment variables Lambda sets.
import { finish, load } from './host.mjs';

let host = start();

function start() {
  const h = load();
  const init = h.call('origin_request_init', [h.config]);
  if (init.error) throw new Error(init.error);
  return h;
}

export const handler = async (event) => {
  const credentials = JSON.stringify({
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
    sessionToken: process.env.AWS_SESSION_TOKEN ?? '',
  });
  try {
    if (event?.Records?.[0]?.cf?.config?.eventType === 'origin-response') {
      return finish(host.call('origin_response', [JSON.stringify(event)]));
    }
    return finish(host.call('origin_request', [JSON.stringify(event), credentials], Date.now()));
  } catch (e) {
    host = start();
    throw e;
  }
};
