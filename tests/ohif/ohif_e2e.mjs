// Opens the prebuilt OHIF viewer (npm @ohif/app's dist/) in Debian's Chromium, pointed at a
// running `dicomweb-edge serve`: study list, then the CT study, until the viewport renders.
// Serves OHIF itself on a loopback port with an app-config.js for the edge, unless OHIF_URL
// names where the edge serves it (`serve`'s own viewer), which is then opened instead.
//
// Usage: node ohif_e2e.mjs OHIF_DIST DICOMWEB_ROOT STUDY_UID LIST_TEXTS OUT_DIR [TOKEN]
// LIST_TEXTS: `|`-separated texts the study list must show (e.g. study descriptions).
// With OHIF_REQUEST_TRANSFER_SYNTAX in the environment, the data source asks for that
// transfer syntax (`requestTransferSyntaxUID`).
// Prints JSON: {requests: [{url, status, accept, range, contentType, contentRange,
// authorization}], studyList, pixels, screenshot}; a `token` in a URL is redacted.
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';

const [dist, root, study, listTexts, outDir, token] = process.argv.slice(2);

const dataSource = {
  namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
  sourceName: 'dicomweb-edge',
  configuration: {
    friendlyName: 'dicomweb-edge',
    name: 'dicomweb-edge',
    wadoUriRoot: root,
    qidoRoot: root,
    wadoRoot: root,
    qidoSupportsIncludeField: true,
    imageRendering: 'wadors',
    thumbnailRendering: 'thumbnail',
    thumbnailRequestStrategy: 'fetch',
    enableStudyLazyLoad: true,
    supportsFuzzyMatching: false,
    supportsWildcard: true,
    omitQuotationForMultipartRequest: true,
    ...(process.env.OHIF_REQUEST_TRANSFER_SYNTAX
      ? { requestTransferSyntaxUID: process.env.OHIF_REQUEST_TRANSFER_SYNTAX }
      : {}),
  },
};
const runName = process.env.OHIF_REQUEST_TRANSFER_SYNTAX ? '-requested-syntax'
  : process.env.OHIF_URL ? '-served' : '';
const appConfig = `window.config = ${JSON.stringify({
  routerBasename: '/',
  extensions: [],
  modes: [],
  showStudyList: true,
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  strictZSpacingForVolumeViewport: false,
  defaultDataSourceName: 'dicomweb-edge',
  dataSources: [dataSource],
})};`;

const types = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.png': 'image/png', '.svg': 'image/svg+xml', '.ico': 'image/x-icon',
};
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/app-config.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    return res.end(appConfig);
  }
  let file = path.join(dist, path.normalize(url.pathname).replace(/^(\.\.[/\\])+/, ''));
  let body;
  try {
    body = await readFile(file);
  } catch {
    file = path.join(dist, 'index.html'); // the single-page app's routes
    body = await readFile(file);
  }
  res.writeHead(200, {
    'content-type': types[path.extname(file)] ?? 'application/octet-stream',
    // SharedArrayBuffer for the decoders.
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'cross-origin-resource-policy': 'same-origin',
  });
  res.end(body);
});
let ohif;
if (process.env.OHIF_URL) {
  ohif = process.env.OHIF_URL.replace(/\/$/, '');
} else {
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  ohif = `http://127.0.0.1:${server.address().port}`;
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--enable-unsafe-swiftshader', '--use-angle=swiftshader'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const requests = [];
const edgeOrigin = new URL(root).origin;
const redacted = url => url.replace(/([?&]token=)[^&]*/g, '$1<redacted>');
page.on('response', async response => {
  const req = response.request();
  if (!req.url().startsWith(edgeOrigin)) return;
  // A response that arrives while the browser closes can no longer be read; the run is
  // over by then, so it is not part of the result (and must not crash the driver).
  const headers = await req.allHeaders().catch(() => null);
  if (!headers) return;
  requests.push({
    url: redacted(req.url().slice(edgeOrigin.length)),
    method: req.method(),
    status: response.status(),
    accept: headers['accept'] ?? null,
    range: headers['range'] ?? null,
    contentType: response.headers()['content-type'] ?? null,
    contentRange: response.headers()['content-range'] ?? null,
    authorization: headers['authorization'] ? 'Bearer <redacted>' : null,
  });
});
page.on('requestfailed', req => {
  if (req.url().startsWith(edgeOrigin)) {
    requests.push({ url: redacted(req.url().slice(edgeOrigin.length)), method: req.method(), status: 0,
      error: req.failure()?.errorText });
  }
});

const cspViolations = [];
page.on('console', msg => {
  if (msg.text().includes('Content Security Policy')) cspViolations.push(msg.text());
});
const result = { requests, cspViolations };

// Against `serve`'s viewer (progressive loading over byte ranges): the first request for
// the rest of a frame (a Range that starts past 0) is held until the viewport has been
// captured as drawn from the frame's first bytes alone, then let through.
let release;
const released = new Promise(r => { release = r; });
let heldOne;
const held = new Promise(r => { heldOne = r; });
let restArrived;
const rest = new Promise(r => { restArrived = r; });
let holding = !!process.env.OHIF_URL;
if (holding) {
  await page.route(u => u.pathname.includes('/frames/'), async route => {
    const range = route.request().headers()['range'] ?? '';
    if (holding && /^bytes=[1-9][0-9]*-/.test(range)) {
      holding = false;
      heldOne();
      await released;
      route.continue().catch(() => {});
      page.waitForResponse(r => r.request() === route.request(), { timeout: 30000 })
        .then(() => restArrived(), () => restArrived());
      return;
    }
    route.continue().catch(() => {});
  });
}

/** Mean, spread and lit fraction of the canvas's pixels, and the grey values. */
async function canvasStats(canvas) {
  const png = PNG.sync.read(await canvas.screenshot());
  const values = [];
  for (let i = 0; i < png.data.length; i += 4) {
    values.push((png.data[i] + png.data[i + 1] + png.data[i + 2]) / 3);
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  const lit = values.filter(v => v > 16).length / values.length;
  return { stats: { width: png.width, height: png.height, mean, sd, lit }, values };
}

try {
  // OHIF takes a bearer token from the viewer URL (`?token=`, removed from the address
  // once read) and sends it on every request; its study list has no such option, so with
  // a token the run opens the viewer directly.
  if (!token) {
    await page.goto(`${ohif}/`, { waitUntil: 'domcontentloaded' });
    const texts = listTexts.split('|');
    for (const text of texts) {
      await page.getByText(text, { exact: true }).first().waitFor({ timeout: 60000 });
    }
    result.studyList = texts;
    await page.screenshot({ path: path.join(outDir, `ohif-study-list${runName}.png`) });
  }
  const auth = token ? `&token=${encodeURIComponent(token)}` : '';
  await page.goto(`${ohif}/viewer?StudyInstanceUIDs=${study}${auth}`, { waitUntil: 'domcontentloaded' });
  // The viewport's canvas, once frames have been drawn into it.
  const canvas = page.locator('.cornerstone-canvas, canvas.cornerstone-canvas').first();
  await canvas.waitFor({ state: 'visible', timeout: 90000 });
  let lower = null;
  if (process.env.OHIF_URL) {
    const wasHeld = await Promise.race([held.then(() => true), page.waitForTimeout(60000).then(() => false)]);
    if (wasHeld) {
      // Drawn from the first bytes alone (Cornerstone3D decodes them at a reduced resolution).
      await page.waitForTimeout(2000);
      lower = await canvasStats(canvas);
      result.lowerResolution = lower.stats;
      await page.screenshot({ path: path.join(outDir, `ohif-ct-first-bytes${token ? '-with-token' : ''}.png`) });
    }
    release();
    if (wasHeld) await rest;
  }
  let stats = null;
  let values = null;
  const deadline = Date.now() + 90000;
  while (Date.now() < deadline) {
    await page.waitForTimeout(1000);
    ({ stats, values } = await canvasStats(canvas));
    if (stats.sd > 10 && stats.lit > 0.02) break;
  }
  result.pixels = stats;
  if (lower && lower.values.length === values.length) {
    // How far the image drawn from the first bytes is from the final one.
    result.lowerResolution.meanAbsDiffToFinal =
      values.reduce((a, v, i) => a + Math.abs(v - lower.values[i]), 0) / values.length;
  }
  result.screenshot = path.join(outDir, token ? `ohif-ct-with-token${runName}.png` : `ohif-ct${runName}.png`);
  await page.screenshot({ path: result.screenshot });
} catch (e) {
  result.error = String(e);
  await page.screenshot({ path: path.join(outDir, 'ohif-failure.png') }).catch(() => {});
} finally {
  await browser.close();
  if (server.listening) server.close();
}
await writeFile(path.join(outDir, `ohif-result${runName}.json`), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result));
