// The baseline's JWKS transport: Node's `http.get`, as in edge/js/host.mjs (not `fetch`, whose
// first use in a process costs ~45 ms of loading), so both handlers start on equal terms.
import http from 'node:http';

export function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    }).on('error', reject);
  });
}
