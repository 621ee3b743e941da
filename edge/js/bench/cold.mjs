// One cold start: import a handler and answer one request; prints the milliseconds from
// process start (performance.timeOrigin) to the answer. Usage: node cold.mjs ours|baseline
import { event } from './common.mjs';

const which = process.argv[2];
const module =
  which === 'ours'
    ? await import(new URL(`file://${process.env.VIEWER_DIR}/index.mjs`))
    : await import('./baseline.mjs');
const result = await module.handler(event(process.env.TOKEN));
if (result.status) throw new Error(`refused: ${JSON.stringify(result)}`);
console.log(JSON.stringify({ which, ms: performance.now() }));
