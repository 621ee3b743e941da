// One cold start: import a handler and answer one request. Prints the milliseconds from
// process start (performance.timeOrigin) to the answer, and from the start of the handler's
// import to the answer (what the handler adds to Node's own start). Usage: node cold.mjs
// ours|baseline
import { event } from './common.mjs';

const which = process.argv[2];
const started = performance.now();
const module =
  which === 'ours'
    ? await import(new URL(`file://${process.env.VIEWER_DIR}/index.mjs`))
    : await import('./baseline.mjs');
const result = await module.handler(event(process.env.TOKEN));
if (result.status) throw new Error(`refused: ${JSON.stringify(result)}`);
const now = performance.now();
console.log(JSON.stringify({ which, ms: now, handlerMs: now - started }));
